-- AMC runs queries only; no statement that writes.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/overview
-- expect: refused
-- error: only SELECT queries are allowed, not CREATE
CREATE TABLE copy AS SELECT campaign FROM dsp_impressions
