-- AMC has no top-level ORDER BY (only inside OVER(...)).
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/limitations
-- expect: refused
-- error: line 8, column 1: AMC does not support ORDER BY in a query
SELECT campaign, SUM(impressions) AS impressions
FROM dsp_impressions
GROUP BY campaign
ORDER BY impressions DESC
