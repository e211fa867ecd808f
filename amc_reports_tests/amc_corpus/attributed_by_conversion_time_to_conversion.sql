-- Time from ad to conversion in buckets (SECONDS_BETWEEN), conversions in the window.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/functions
-- expect: ok
-- columns: time_to_conversion STRING, total_purchases LONG, users LONG
-- rows: some
SELECT
  CASE
    WHEN SECONDS_BETWEEN(traffic_event_dt, conversion_event_dt) <= 3600 THEN '1 | < 1 h'
    WHEN SECONDS_BETWEEN(traffic_event_dt, conversion_event_dt) <= 86400 THEN '2 | < 1 day'
    ELSE '3 | 1 day +'
  END AS time_to_conversion,
  SUM(total_purchases) AS total_purchases,
  COUNT(DISTINCT user_id) AS users
FROM amazon_attributed_events_by_conversion_time
GROUP BY 1
