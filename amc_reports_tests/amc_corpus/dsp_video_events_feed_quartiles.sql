-- Video completion funnel per campaign: starts (impressions), quartiles and completes.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/dsp_video_events_feed
-- expect: ok
-- rows: some
SELECT
  campaign,
  SUM(video_first_quartile) AS first_quartile,
  SUM(video_midpoint) AS midpoint,
  SUM(video_third_quartile) AS third_quartile,
  SUM(video_complete) AS completes,
  COUNT(DISTINCT user_id) AS users
FROM dsp_video_events_feed
GROUP BY campaign
