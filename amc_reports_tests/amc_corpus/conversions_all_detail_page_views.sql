-- Users who viewed a detail page, exposed to ads or not (conversions_all, a paid feature).
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/conversions_all_paid
-- expect: ok
-- columns: event_type_description STRING, exposure_type STRING, conversions LONG, users LONG
-- rows: some
SELECT
  event_type_description,
  exposure_type,
  SUM(conversions) AS conversions,
  COUNT(DISTINCT user_id) AS users
FROM conversions_all
GROUP BY event_type_description, exposure_type
