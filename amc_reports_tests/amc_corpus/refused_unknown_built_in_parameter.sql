-- BUILT_IN_PARAMETER knows only the window's bounds.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/expressions
-- expect: refused
-- error: line 5, column 8: unknown BUILT_IN_PARAMETER 'TIME_WINDOW_MIDDLE'
SELECT BUILT_IN_PARAMETER('TIME_WINDOW_MIDDLE') AS middle, SUM(impressions) AS impressions
FROM dsp_impressions
GROUP BY 1
