-- Conversions per event type (purchase, detail page view, add to cart, ...).
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/conversions
-- expect: ok
-- columns: event_type_description STRING, conversions LONG, users LONG
-- rows: some
SELECT
  event_type_description,
  SUM(conversions) AS conversions,
  COUNT(DISTINCT user_id) AS users
FROM conversions
GROUP BY event_type_description
