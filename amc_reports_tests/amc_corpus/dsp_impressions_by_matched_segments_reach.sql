-- Reach per targeted and matched segment (each impression once per segment: count users, not impressions).
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/dsp_impressions_by_segments
-- expect: ok
-- columns: behavior_segment_id INTEGER, behavior_segment_name STRING, users LONG
-- rows: some
SELECT
  behavior_segment_id,
  behavior_segment_name,
  COUNT(DISTINCT user_id) AS users
FROM dsp_impressions_by_matched_segments
GROUP BY behavior_segment_id, behavior_segment_name
