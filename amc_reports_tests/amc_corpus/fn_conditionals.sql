-- Conditional functions: CASE, IF, COALESCE, IFNULL, NVL, NVL2, NULLIF, IN.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/functions
-- expect: ok
-- rows: some
SELECT
  CASE WHEN impression_hour < 12 THEN 'morning' ELSE 'afternoon' END AS half,
  IF(device_type IN ('Phone', 'Tablet'), 'mobile', 'other') AS screen,
  COALESCE(creative_type, 'unknown') AS creative_type,
  IFNULL(NVL(NVL2(operating_system, operating_system, NULL), 'none'), 'none') AS os,
  NULLIF(environment_type, 'unknown') AS environment,
  COUNT(DISTINCT user_id) AS users
FROM dsp_impressions
GROUP BY 1, 2, 3, 4, 5
