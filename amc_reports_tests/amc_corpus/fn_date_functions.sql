-- Date functions: DATE_TRUNC, EXTRACT, HOUR, DAYOFMONTH, MONTH, YEAR, WEEK on impression times.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/functions
-- expect: ok
-- rows: some
SELECT
  DATE_TRUNC('DAY', impression_dt) AS day,
  EXTRACT(HOUR FROM impression_dt) AS hour,
  HOUR(impression_dt) AS hour_again,
  DAYOFMONTH(impression_date) AS day_of_month,
  MONTH(impression_date) AS month,
  YEAR(impression_date) AS year,
  WEEK(impression_date) AS week,
  COUNT(DISTINCT user_id) AS users
FROM dsp_impressions
GROUP BY 1, 2, 3, 4, 5, 6, 7
