-- Weekly delivery and conversions per campaign: the basic health report of an AMC instance.
SELECT
    campaign_id,
    campaign AS campaign_name,
    SUM(impressions) AS impressions,
    SUM(clicks) AS clicks,
    SUM(total_cost) / 100000 AS spend,
    SUM(purchases) AS purchases,
    SUM(product_sales) AS sales,
    SUM(clicks) / NULLIF(SUM(impressions), 0) AS click_through_rate
FROM sponsored_ads_traffic
WHERE event_dt >= BUILT_IN_PARAMETER('TIME_WINDOW_START')
  AND event_dt < BUILT_IN_PARAMETER('TIME_WINDOW_END')
GROUP BY campaign_id, campaign
