-- Reach per country and state, and each campaign's flight dates.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/dsp_impressions
-- expect: ok
-- columns: iso_country_code STRING, iso_state_province_code STRING, campaign STRING, campaign_start_date TIMESTAMP, campaign_end_date TIMESTAMP, users LONG
-- rows: some
SELECT
  iso_country_code,
  iso_state_province_code,
  campaign,
  campaign_start_date,
  campaign_end_date,
  COUNT(DISTINCT user_id) AS users
FROM dsp_impressions
GROUP BY 1, 2, 3, 4, 5
