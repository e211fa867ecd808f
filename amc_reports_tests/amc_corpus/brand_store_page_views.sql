-- Brand Store page views and dwell time per channel (Amazon Brand Store Insights, a paid feature).
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/brand_store_insights_paid
-- expect: ok
-- rows: some
SELECT
  channel,
  COUNT(DISTINCT visit_id) AS visits,
  SUM(dwell_time) AS dwell_time,
  COUNT(DISTINCT user_id) AS users
FROM amazon_brand_store_page_views
GROUP BY 1
