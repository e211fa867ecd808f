-- Users per impression-frequency bucket: aggregate per user first, then per bucket.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/examples
-- expect: ok
-- columns: frequency STRING, users LONG
-- rows: some
WITH per_user AS (
  SELECT user_id, SUM(impressions) AS impressions
  FROM dsp_impressions
  GROUP BY user_id
)
SELECT
  CASE WHEN impressions < 3 THEN '1-2' WHEN impressions < 6 THEN '3-5' ELSE '6+' END AS frequency,
  COUNT(DISTINCT user_id) AS users
FROM per_user
GROUP BY 1
