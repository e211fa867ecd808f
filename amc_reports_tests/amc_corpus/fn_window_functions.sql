-- Top campaigns per advertiser with RANK, DENSE_RANK and ROW_NUMBER over PARTITION BY ... ORDER BY (AMC's way instead of LIMIT).
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/limitations
-- expect: ok
-- rows: some
WITH ranked AS (
  SELECT
    advertiser,
    campaign,
    SUM(impressions) AS impressions,
    COUNT(DISTINCT user_id) AS users,
    RANK() OVER (PARTITION BY advertiser ORDER BY SUM(impressions) DESC) AS rank_by_impressions,
    DENSE_RANK() OVER (PARTITION BY advertiser ORDER BY COUNT(DISTINCT user_id) DESC) AS rank_by_reach,
    ROW_NUMBER() OVER (PARTITION BY advertiser ORDER BY campaign) AS row_in_advertiser
  FROM dsp_impressions
  GROUP BY advertiser, campaign
)
SELECT advertiser, campaign, impressions, users, rank_by_impressions, rank_by_reach, row_in_advertiser
FROM ranked
WHERE rank_by_impressions <= 3
