-- CONVERT_TIME_ZONE_FROM_UTC and EPOCH_TO_UTC_TIMESTAMP: impressions per local day in New York, and the epoch's start.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/functions
-- expect: ok
-- columns: new_york_day DATE, epoch_start TIMESTAMP, impressions LONG, users LONG
-- rows: some
SELECT
  CAST(CONVERT_TIME_ZONE_FROM_UTC(impression_dt_utc, 'America/New_York') AS DATE) AS new_york_day,
  EPOCH_TO_UTC_TIMESTAMP(0) AS epoch_start,
  SUM(impressions) AS impressions,
  COUNT(DISTINCT user_id) AS users
FROM dsp_impressions
GROUP BY 1, 2
