-- NielsenIQ CPG purchases per category of the households an ad reached (ncs_cpg_insights_stream, a paid feature).
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/cpg_insights_stream_paid
-- expect: ok
-- rows: some
SELECT
  p.super_category,
  SUM(p.purchase_quantity) AS quantity,
  COUNT(DISTINCT p.user_id) AS users
FROM ncs_cpg_insights_stream p
JOIN (SELECT DISTINCT user_id FROM dsp_impressions) i ON p.user_id = i.user_id
GROUP BY p.super_category
