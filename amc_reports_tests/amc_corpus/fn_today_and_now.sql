-- CAST('today' AS DATE) and CAST('now' AS TIMESTAMP), AMC's stand-ins for GETDATE(): rows only when they are today's date and time.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/limitations
-- expect: ok
-- columns: campaign STRING, users LONG
-- rows: some
SELECT
  campaign,
  COUNT(DISTINCT user_id) AS users
FROM dsp_impressions
WHERE CAST('today' AS DATE) > CAST('2026-01-01' AS DATE)
  AND CAST('now' AS TIMESTAMP) > CAST('2026-01-01 00:00:00' AS TIMESTAMP)
GROUP BY campaign
