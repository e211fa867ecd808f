-- A function AMC does not have (GETDATE: use CAST('today' AS DATE)).
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/limitations
-- expect: refused
-- error: line 5, column 8: AMC does not support the GETDATE() function
SELECT GETDATE() AS today, SUM(impressions) AS impressions
FROM dsp_impressions
GROUP BY 1
