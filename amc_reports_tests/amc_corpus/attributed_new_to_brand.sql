-- New-to-brand purchases and sales per campaign.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/amazon_attributed_events_by_conversion_time
-- expect: ok
-- columns: campaign_id_string STRING, ntb_purchases LONG, ntb_sales DECIMAL(38,4), purchases LONG
-- rows: some
SELECT
  campaign_id_string,
  SUM(new_to_brand_purchases) AS ntb_purchases,
  SUM(new_to_brand_product_sales) AS ntb_sales,
  SUM(purchases) AS purchases
FROM amazon_attributed_events_by_conversion_time
GROUP BY campaign_id_string
