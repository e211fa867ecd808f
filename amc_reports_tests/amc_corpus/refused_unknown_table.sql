-- A table AMC does not have.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/overview
-- expect: refused
-- error: line 6, column 6: Table 'dsp_impression' does not exist
SELECT campaign, SUM(impressions) AS impressions
FROM dsp_impression
GROUP BY campaign
