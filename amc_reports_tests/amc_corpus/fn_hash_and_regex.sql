-- Hash and regular-expression functions: MD5, SHA1, REGEXP_REPLACE.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/functions
-- expect: ok
-- rows: some
SELECT
  LENGTH(MD5(campaign)) AS md5_length,
  LENGTH(SHA1(campaign)) AS sha1_length,
  REGEXP_REPLACE(campaign, '[0-9]', '#') AS masked,
  COUNT(DISTINCT user_id) AS users
FROM dsp_impressions
GROUP BY 1, 2, 3
