-- A table function reading a file is no AMC table.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/overview
-- expect: refused
-- error: Table 'read_csv' does not exist
SELECT COUNT(*) AS n
FROM read_csv('/etc/passwd')
