-- Clicks per customer search term and match type.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/sponsored_ads_traffic
-- expect: ok
-- columns: customer_search_term STRING, match_type STRING, clicks LONG, users LONG
SELECT
  customer_search_term,
  match_type,
  SUM(clicks) AS clicks,
  COUNT(DISTINCT user_id) AS users
FROM sponsored_ads_traffic
WHERE clicks > 0
GROUP BY customer_search_term, match_type
