-- A misspelt column: AMC's words, and the columns spelt like it.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/dsp_impressions
-- expect: refused
-- error: line 5, column 22: Column 'impresions' cannot be resolved (did you mean 'impressions'?)
SELECT campaign, SUM(impresions) AS impressions
FROM dsp_impressions
GROUP BY campaign
