-- Members per lifestyle segment in each monthly snapshot (the FACT view of segment membership).
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/audience_segment_membership_paid
-- expect: ok
-- rows: some
SELECT
  s.snapshot_datetime,
  m.segment_name,
  COUNT(DISTINCT s.user_id) AS users
FROM audience_segments_amer_lifestyle_snapshot s
JOIN segment_metadata m
  ON s.segment_id = m.segment_id AND s.segment_marketplace_id = m.segment_marketplace_id
GROUP BY 1, 2
