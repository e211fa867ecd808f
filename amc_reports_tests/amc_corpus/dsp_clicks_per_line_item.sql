-- Clicks and click cost per line item.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/dsp_clicks
-- expect: ok
-- columns: line_item_id LONG, line_item STRING, clicks LONG, click_cost LONG, users LONG
SELECT
  line_item_id,
  line_item,
  SUM(clicks) AS clicks,
  SUM(click_cost) AS click_cost,
  COUNT(DISTINCT user_id) AS users
FROM dsp_clicks
GROUP BY line_item_id, line_item
