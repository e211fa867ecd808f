-- Users of each in-market segment who saw a DSP ad: membership joined to segment_metadata on segment_id and segment_marketplace_id, as the docs recommend.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/audience_segment_membership_paid
-- expect: ok
-- columns: segment_name STRING, category_level_1 STRING, users LONG
-- rows: some
WITH reached AS (
  SELECT DISTINCT user_id FROM dsp_impressions
)
SELECT
  m.segment_name,
  m.category_level_1,
  COUNT(DISTINCT s.user_id) AS users
FROM audience_segments_amer_inmarket s
JOIN segment_metadata m
  ON s.segment_id = m.segment_id AND s.segment_marketplace_id = m.segment_marketplace_id
JOIN reached r ON s.user_id = r.user_id
GROUP BY m.segment_name, m.category_level_1
