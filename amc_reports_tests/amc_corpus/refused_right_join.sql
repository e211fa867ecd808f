-- AMC has no RIGHT JOIN (a LEFT JOIN with the tables swapped).
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/limitations
-- expect: refused
-- error: line 7, column 1: AMC does not support RIGHT JOIN
SELECT c.campaign, SUM(i.impressions) AS impressions
FROM dsp_impressions i
RIGHT JOIN dsp_clicks c ON i.user_id = c.user_id
GROUP BY c.campaign
