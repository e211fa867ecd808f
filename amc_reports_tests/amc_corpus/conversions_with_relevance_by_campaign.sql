-- Conversions relevant to each campaign, by engagement scope and halo (custom attribution's input).
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/conversions_with_relevance
-- expect: ok
-- columns: campaign STRING, engagement_scope STRING, halo_code STRING, conversions LONG, users LONG
-- rows: some
SELECT
  campaign,
  engagement_scope,
  halo_code,
  SUM(conversions) AS conversions,
  COUNT(DISTINCT user_id) AS users
FROM conversions_with_relevance
GROUP BY campaign, engagement_scope, halo_code
