-- Impressions, clicks and spend (microcents to currency) per sponsored ads product.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/sponsored_ads_traffic
-- expect: ok
-- columns: ad_product_type STRING, impressions LONG, clicks LONG, spend DOUBLE, users LONG
-- rows: some
SELECT
  ad_product_type,
  SUM(impressions) AS impressions,
  SUM(clicks) AS clicks,
  SUM(spend) / 100000000 AS spend,
  COUNT(DISTINCT user_id) AS users
FROM sponsored_ads_traffic
GROUP BY ad_product_type
