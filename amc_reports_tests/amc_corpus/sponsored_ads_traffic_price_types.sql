-- Sponsored ads cost per price type (CPC or vCPM: line_item_price_type), in the campaign's currency.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/sponsored_ads_traffic
-- expect: ok
-- columns: ad_product_type STRING, line_item_price_type STRING, currency_name STRING, spend DOUBLE, clicks LONG, viewable_impressions LONG
-- rows: some
SELECT
  ad_product_type,
  line_item_price_type,
  currency_name,
  SUM(spend) / 100000000 AS spend,
  SUM(clicks) AS clicks,
  SUM(viewable_impressions) AS viewable_impressions
FROM sponsored_ads_traffic
GROUP BY 1, 2, 3
