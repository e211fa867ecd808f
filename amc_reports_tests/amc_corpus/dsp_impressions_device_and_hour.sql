-- Impressions per device type and hour of the day (advertiser time zone).
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/dsp_impressions
-- expect: ok
-- columns: device_type STRING, impression_hour INTEGER, impressions LONG, users LONG
-- rows: some
SELECT
  device_type,
  impression_hour,
  SUM(impressions) AS impressions,
  COUNT(DISTINCT user_id) AS users
FROM dsp_impressions
GROUP BY device_type, impression_hour
