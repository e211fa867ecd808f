-- An unknown table is named without its alias or a trailing comment.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/overview
-- expect: refused
-- error: line 6, column 6: Table 'display_impressions' does not exist
SELECT d.campaign, SUM(d.impressions) AS impressions
FROM display_impressions AS d -- the old name
GROUP BY d.campaign
