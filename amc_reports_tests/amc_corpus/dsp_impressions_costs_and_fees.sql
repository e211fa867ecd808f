-- DSP cost and its parts: supply cost and the fees (microcents) against total and impression cost (millicents), per campaign and currency.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/dsp_impressions
-- expect: ok
-- columns: campaign STRING, currency_name STRING, total_cost DOUBLE, impression_cost DOUBLE, supply_cost DOUBLE, fees DOUBLE, users LONG
-- rows: some
SELECT
  campaign,
  currency_name,
  SUM(total_cost) / 100000 AS total_cost,
  SUM(impression_cost) / 100000 AS impression_cost,
  SUM(supply_cost) / 100000000 AS supply_cost,
  SUM(platform_fee + managed_service_fee + audience_fee + ocm_fee + third_party_fees) / 100000000 AS fees,
  COUNT(DISTINCT user_id) AS users
FROM dsp_impressions
GROUP BY campaign, currency_name
