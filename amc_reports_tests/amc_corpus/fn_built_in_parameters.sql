-- The window's bounds as values (BUILT_IN_PARAMETER) beside the impressions in it.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/expressions
-- expect: ok
-- columns: window_start TIMESTAMP, window_end TIMESTAMP, impressions LONG, users LONG
-- rows: some
SELECT
  BUILT_IN_PARAMETER('TIME_WINDOW_START') AS window_start,
  BUILT_IN_PARAMETER('TIME_WINDOW_END') AS window_end,
  SUM(impressions) AS impressions,
  COUNT(DISTINCT user_id) AS users
FROM dsp_impressions
WHERE impression_dt >= BUILT_IN_PARAMETER('TIME_WINDOW_START')
GROUP BY 1, 2
