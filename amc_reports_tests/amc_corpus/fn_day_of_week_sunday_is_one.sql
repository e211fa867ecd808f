-- DAYOFWEEK and EXTRACT(DOW): 1 is Sunday, 7 Saturday (2026-11-01 is a Sunday): rows only when that holds.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/functions
-- expect: ok
-- columns: campaign STRING, users LONG
-- rows: some
SELECT
  campaign,
  COUNT(DISTINCT user_id) AS users
FROM dsp_impressions
WHERE DAYOFWEEK(CAST('2026-11-01' AS DATE)) = 1
  AND EXTRACT(DOW FROM CAST('2026-11-07' AS DATE)) = 7
GROUP BY campaign
