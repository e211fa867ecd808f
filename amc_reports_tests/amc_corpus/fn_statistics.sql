-- Spread of the cost per click: STDDEV_POP, VAR_POP, STDDEV_SAMP, VAR_SAMP, SKEWNESS, PERCENTILE, MEDIAN.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/functions
-- expect: ok
-- rows: some
SELECT
  ad_product_type,
  STDDEV_POP(spend / 100000000) AS stddev_pop,
  VAR_POP(spend / 100000000) AS var_pop,
  STDDEV_SAMP(spend / 100000000) AS stddev_samp,
  VAR_SAMP(spend / 100000000) AS var_samp,
  SKEWNESS(spend / 100000000) AS skewness,
  PERCENTILE(spend / 100000000, 0.5) AS percentile_50,
  MEDIAN(spend / 100000000) AS median,
  COUNT(DISTINCT user_id) AS users
FROM sponsored_ads_traffic
WHERE clicks > 0
GROUP BY ad_product_type
