-- AMC's string functions on campaign names: CONCAT, LOWER, UPPER, LEFT, RIGHT, LENGTH, REPLACE, SUBSTRING, TRIM, INSTR.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/functions
-- expect: ok
-- rows: some
SELECT
  CONCAT(LOWER(LEFT(campaign, 3)), '-', UPPER(RIGHT(campaign, 2))) AS short_name,
  LENGTH(REPLACE(campaign, ' ', '')) AS letters,
  SUBSTRING(TRIM(campaign) FROM 1 FOR 4) AS prefix,
  INSTR(campaign, 'a') AS first_a,
  COUNT(DISTINCT user_id) AS users
FROM dsp_impressions
GROUP BY 1, 2, 3, 4
