-- Brand halo purchases (other ASINs of the brand) per ad product.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/amazon_attributed_events_by_conversion_time
-- expect: ok
-- columns: ad_product_type STRING, halo_purchases LONG, halo_units LONG, users LONG
-- rows: some
SELECT
  ad_product_type,
  SUM(brand_halo_purchases) AS halo_purchases,
  SUM(brand_halo_units_sold) AS halo_units,
  COUNT(DISTINCT user_id) AS users
FROM amazon_attributed_events_by_traffic_time
GROUP BY ad_product_type
