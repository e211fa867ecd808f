-- Math functions: ROUND, FLOOR, CEIL, ABS, POWER, SQRT, LN, LOG10, GREATEST, LEAST.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/functions
-- expect: ok
-- rows: some
SELECT
  FLOOR(impression_hour / 6) AS quarter_of_day,
  ROUND(SQRT(SUM(impressions)), 2) AS root,
  CEIL(LN(SUM(impressions) + 1)) AS ln_up,
  ROUND(LOG10(SUM(impressions) + 1), 1) AS log10,
  ABS(POWER(2, 3) - 10) AS two,
  GREATEST(MAX(impression_hour), 0) AS latest_hour,
  LEAST(MIN(impression_hour), 23) AS earliest_hour,
  COUNT(DISTINCT user_id) AS users
FROM dsp_impressions
GROUP BY 1
