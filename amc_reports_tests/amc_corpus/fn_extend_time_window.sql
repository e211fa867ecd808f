-- EXTEND_TIME_WINDOW: impressions from up to 14 days before the window, for the users converting in it; rows only when the extension reaches before the window.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/limitations
-- expect: ok
-- columns: exposure STRING, users LONG
-- rows: some
WITH exposed AS (
  SELECT user_id, MIN(impression_dt_utc) AS first_impression
  FROM TABLE(EXTEND_TIME_WINDOW('dsp_impressions', 'P14D', 'P0D'))
  GROUP BY user_id
)
SELECT
  'first seen before the window' AS exposure,
  COUNT(DISTINCT c.user_id) AS users
FROM conversions c
JOIN exposed e ON c.user_id = e.user_id
WHERE e.first_impression < BUILT_IN_PARAMETER('TIME_WINDOW_START')
GROUP BY 1
