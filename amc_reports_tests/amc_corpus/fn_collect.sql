-- COLLECT(DISTINCT ...): the device types of each campaign as an array, sorted and joined.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/functions
-- expect: ok
-- columns: campaign STRING, devices STRING, impressions_counted LONG, users LONG
-- rows: some
SELECT
  campaign,
  ARRAY_TO_STRING(ARRAY_SORT(COLLECT(DISTINCT device_type)), ',') AS devices,
  CARDINALITY(COLLECT(device_type)) AS impressions_counted,
  COUNT(DISTINCT user_id) AS users
FROM dsp_impressions
GROUP BY campaign
