-- Users reached by DSP, by sponsored ads, or both (FULL OUTER JOIN of two user lists).
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/basics
-- expect: ok
-- columns: exposure STRING, users LONG
-- rows: some
WITH dsp AS (
  SELECT DISTINCT user_id FROM dsp_impressions
),
sa AS (
  SELECT DISTINCT user_id FROM sponsored_ads_traffic
)
SELECT
  CASE
    WHEN dsp.user_id IS NOT NULL AND sa.user_id IS NOT NULL THEN 'both'
    WHEN dsp.user_id IS NOT NULL THEN 'dsp only'
    ELSE 'sponsored ads only'
  END AS exposure,
  COUNT(DISTINCT COALESCE(dsp.user_id, sa.user_id)) AS users
FROM dsp
FULL OUTER JOIN sa ON dsp.user_id = sa.user_id
GROUP BY 1
