-- Raw data cannot be exported: no SELECT * from a table.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/limitations
-- expect: refused
-- error: line 5, column 8: AMC does not support selecting all columns from a table (SELECT *)
SELECT *
FROM dsp_impressions
