-- Promoted and brand-wide (total_) detail page views, add to carts and purchases per campaign.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/amazon_attributed_events_by_conversion_time
-- expect: ok
-- columns: campaign STRING, detail_page_view LONG, total_detail_page_view LONG, add_to_cart LONG, total_add_to_cart LONG, new_to_brand_total_purchases LONG, users LONG
-- rows: some
SELECT
  campaign,
  SUM(detail_page_view) AS detail_page_view,
  SUM(total_detail_page_view) AS total_detail_page_view,
  SUM(add_to_cart) AS add_to_cart,
  SUM(total_add_to_cart) AS total_add_to_cart,
  SUM(new_to_brand_total_purchases) AS new_to_brand_total_purchases,
  COUNT(DISTINCT user_id) AS users
FROM amazon_attributed_events_by_conversion_time
GROUP BY 1
