-- SECONDS_, MINUTES_, HOURS_ and DAYS_BETWEEN from a click to its conversion.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/functions
-- expect: ok
-- columns: ad_product_type STRING, avg_seconds DOUBLE, avg_minutes DOUBLE, avg_hours DOUBLE, avg_days DOUBLE, users LONG
-- rows: some
SELECT
  ad_product_type,
  AVG(SECONDS_BETWEEN(traffic_event_dt_utc, conversion_event_dt_utc)) AS avg_seconds,
  AVG(MINUTES_BETWEEN(traffic_event_dt_utc, conversion_event_dt_utc)) AS avg_minutes,
  AVG(HOURS_BETWEEN(traffic_event_dt_utc, conversion_event_dt_utc)) AS avg_hours,
  AVG(DAYS_BETWEEN(traffic_event_dt_utc, conversion_event_dt_utc)) AS avg_days,
  COUNT(DISTINCT user_id) AS users
FROM amazon_attributed_events_by_traffic_time
GROUP BY ad_product_type
