-- NAMED_ROW: a named structure as one grouping key.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/functions
-- expect: ok
-- rows: some
SELECT
  NAMED_ROW('campaign', campaign, 'device', device_type) AS campaign_device,
  SUM(impressions) AS impressions,
  COUNT(DISTINCT user_id) AS users
FROM dsp_impressions
GROUP BY 1
