-- Brand halo: purchases of the brand's products by users who saw the advertiser's ads, per
-- campaign and week, for the ASINs an instance lists (CUSTOM_PARAMETER('asins')) and counting
-- users first exposed since the look-back start (CUSTOM_PARAMETER('lookback_start')).
SELECT
    campaign_id,
    campaign AS campaign_name,
    CUSTOM_PARAMETER('brand') AS brand,
    COUNT(DISTINCT user_id) AS purchasers,
    SUM(purchases) AS purchases,
    SUM(product_sales) AS sales
FROM amazon_attributed_events_by_conversion_time
WHERE tracked_asin IN (CUSTOM_PARAMETER('asins'))
  AND impression_dt >= CUSTOM_PARAMETER('lookback_start')
GROUP BY campaign_id, campaign
