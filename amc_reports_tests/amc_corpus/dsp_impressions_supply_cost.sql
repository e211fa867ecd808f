-- Supply cost per supply source, in currency (dsp costs are millicents).
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/dsp_impressions
-- expect: ok
-- columns: supply_source STRING, supply_cost DOUBLE, impressions LONG, users LONG
-- rows: some
SELECT
  supply_source,
  SUM(supply_cost) / 100000 AS supply_cost,
  SUM(impressions) AS impressions,
  COUNT(DISTINCT user_id) AS users
FROM dsp_impressions
GROUP BY supply_source
