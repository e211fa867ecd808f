-- An unclosed parenthesis.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/overview
-- expect: refused
-- error: line 5, column 34: syntax error
SELECT campaign, SUM(impressions AS impressions
FROM dsp_impressions
GROUP BY campaign
