-- Impressions and clicks per campaign in one result: UNION ALL of two aggregates, then a sum.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/basics
-- expect: ok
-- columns: campaign_id LONG, impressions LONG, clicks LONG
-- rows: some
WITH events AS (
  SELECT campaign_id, SUM(impressions) AS impressions, 0 AS clicks
  FROM dsp_impressions
  GROUP BY campaign_id
  UNION ALL
  SELECT campaign_id, 0 AS impressions, SUM(clicks) AS clicks
  FROM dsp_clicks
  GROUP BY campaign_id
)
SELECT campaign_id, SUM(impressions) AS impressions, SUM(clicks) AS clicks
FROM events
GROUP BY campaign_id
