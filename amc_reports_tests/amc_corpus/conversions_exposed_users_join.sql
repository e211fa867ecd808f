-- Users reached by DSP who then converted: a join on user_id between traffic and conversions.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/basics
-- expect: ok
-- columns: outcome STRING, users LONG, impressions LONG
-- rows: some
WITH reached AS (
  SELECT user_id, SUM(impressions) AS impressions
  FROM dsp_impressions
  GROUP BY user_id
),
converted AS (
  SELECT user_id, SUM(conversions) AS conversions
  FROM conversions
  GROUP BY user_id
)
SELECT
  IF(c.user_id IS NULL, 'no conversion', 'converted') AS outcome,
  COUNT(DISTINCT r.user_id) AS users,
  SUM(r.impressions) AS impressions
FROM reached r
LEFT JOIN converted c ON r.user_id = c.user_id
GROUP BY 1
