-- UUID() is a STRING of 36 characters.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/expressions
-- expect: ok
-- columns: campaign STRING, users LONG
-- rows: some
SELECT
  campaign,
  COUNT(DISTINCT user_id) AS users
FROM dsp_impressions
WHERE LENGTH(UUID()) = 36
GROUP BY campaign
