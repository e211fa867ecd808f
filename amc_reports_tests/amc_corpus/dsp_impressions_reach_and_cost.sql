-- Reach, impressions and cost (millicents to currency) per DSP campaign.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/dsp_impressions
-- expect: ok
-- columns: campaign STRING, reach LONG, impressions LONG, cost DOUBLE
-- rows: some
SELECT
  campaign,
  COUNT(DISTINCT user_id) AS reach,
  SUM(impressions) AS impressions,
  SUM(total_cost) / 100000 AS cost
FROM dsp_impressions
GROUP BY campaign
