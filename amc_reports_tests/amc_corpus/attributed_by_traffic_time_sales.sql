-- Purchases and sales attributed to each campaign's traffic in the window.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/amazon_attributed_events_by_conversion_time
-- expect: ok
-- columns: campaign STRING, ad_product_type STRING, purchases LONG, product_sales DECIMAL(38,4), total_purchases LONG, total_product_sales DECIMAL(38,4)
-- rows: some
SELECT
  campaign,
  ad_product_type,
  SUM(purchases) AS purchases,
  SUM(product_sales) AS product_sales,
  SUM(total_purchases) AS total_purchases,
  SUM(total_product_sales) AS total_product_sales
FROM amazon_attributed_events_by_traffic_time
GROUP BY campaign, ad_product_type
