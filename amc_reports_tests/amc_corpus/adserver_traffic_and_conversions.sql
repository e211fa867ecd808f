-- Amazon Ad Server: impressions and clicks per campaign, and the conversions of the users they reached.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/adserver_traffic
-- expect: ok
-- rows: some
WITH reached AS (
  SELECT campaign, user_id, SUM(impressions) AS impressions, SUM(clicks) AS clicks
  FROM adserver_traffic
  GROUP BY campaign, user_id
),
converted AS (
  SELECT user_id, SUM(conversions) AS conversions
  FROM adserver_conversions
  GROUP BY user_id
)
SELECT
  r.campaign,
  SUM(r.impressions) AS impressions,
  SUM(r.clicks) AS clicks,
  SUM(c.conversions) AS conversions,
  COUNT(DISTINCT r.user_id) AS users
FROM reached r
LEFT JOIN converted c ON r.user_id = c.user_id
GROUP BY r.campaign
