-- A campaign grouping written as a VALUES list (a CTE with column names), joined to the traffic.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/basics
-- expect: ok
-- columns: device_group STRING, impressions LONG, users LONG
-- rows: some
WITH device_groups (device_type, device_group) AS (
  VALUES
    ('Phone', 'mobile'),
    ('Tablet', 'mobile'),
    ('PC', 'desktop')
)
SELECT
  COALESCE(g.device_group, 'other') AS device_group,
  SUM(i.impressions) AS impressions,
  COUNT(DISTINCT i.user_id) AS users
FROM dsp_impressions i
LEFT JOIN device_groups g ON i.device_type = g.device_type
GROUP BY 1
