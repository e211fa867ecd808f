-- Tables have no schema or catalog in AMC.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/overview
-- expect: refused
-- error: line 6, column 6: Table 'main.dsp_impressions' does not exist
SELECT SUM(impressions) AS impressions
FROM main.dsp_impressions
