-- An AMC query aggregates: event rows cannot leave an advertiser's instance.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/limitations
-- expect: refused
-- error: line 5, column 1: AMC accepts only queries that generate aggregated results
SELECT campaign, impressions
FROM dsp_impressions
