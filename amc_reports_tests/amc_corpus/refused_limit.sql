-- AMC has no LIMIT (rank with RANK() OVER instead).
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/limitations
-- expect: refused
-- error: line 8, column 1: AMC does not support LIMIT
SELECT campaign, SUM(impressions) AS impressions
FROM dsp_impressions
GROUP BY campaign
LIMIT 5
