-- Reach per audience segment the users belonged to, and whether the line item targeted it.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/dsp_impressions_by_segments
-- expect: ok
-- columns: behavior_segment_name STRING, behavior_segment_matched LONG, impressions LONG, users LONG
-- rows: some
SELECT
  behavior_segment_name,
  behavior_segment_matched,
  SUM(impressions) AS impressions,
  COUNT(DISTINCT user_id) AS users
FROM dsp_impressions_by_user_segments
GROUP BY behavior_segment_name, behavior_segment_matched
