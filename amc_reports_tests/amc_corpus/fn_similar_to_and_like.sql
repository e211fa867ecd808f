-- Brand buckets with SIMILAR TO (a Java regular expression) and LIKE.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/examples
-- expect: ok
-- columns: naming STRING, letter STRING, impressions LONG, users LONG
-- rows: some
SELECT
  IF(campaign SIMILAR TO '.*[0-9].*', 'numbered', 'named') AS naming,
  IF(campaign LIKE '%a%', 'has a', 'no a') AS letter,
  SUM(impressions) AS impressions,
  COUNT(DISTINCT user_id) AS users
FROM dsp_impressions
GROUP BY 1, 2
