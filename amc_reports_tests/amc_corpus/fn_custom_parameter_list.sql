-- A list CUSTOM_PARAMETER with ARRAY_CONTAINS and CARDINALITY, as AMC's instructional queries filter campaigns.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/expressions
-- expect: ok
-- columns: campaign_id_string STRING, impressions LONG, users LONG
-- rows: some
-- parameters: {"device_types": ["Phone", "PC", "TV", "Tablet"]}
SELECT
  campaign_id_string,
  SUM(impressions) AS impressions,
  COUNT(DISTINCT user_id) AS users
FROM dsp_impressions
WHERE ARRAY_CONTAINS(CUSTOM_PARAMETER('device_types'), device_type)
  OR CARDINALITY(CUSTOM_PARAMETER('device_types')) = 0
GROUP BY campaign_id_string
