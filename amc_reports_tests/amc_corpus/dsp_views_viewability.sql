-- Viewable and unmeasurable impressions per campaign.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/dsp_views
-- expect: ok
-- columns: campaign_id_string STRING, viewable_impressions LONG, unmeasurable LONG, users LONG
-- rows: some
SELECT
  campaign_id_string,
  SUM(viewable_impressions) AS viewable_impressions,
  SUM(unmeasurable_viewable_impressions) AS unmeasurable,
  COUNT(DISTINCT user_id) AS users
FROM dsp_views
GROUP BY campaign_id_string
