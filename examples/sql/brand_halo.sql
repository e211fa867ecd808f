-- Brand halo: purchases of the brand's products by users who saw the advertiser's ads, per
-- campaign and week, for the ASINs an instance lists (CUSTOM_PARAMETER('asins')) and counting
-- users first exposed since the look-back start (CUSTOM_PARAMETER('lookback_start')).
-- A list parameter is an array in AMC: test membership with ARRAY_CONTAINS, as AMC's
-- instructional queries do (`IN (CUSTOM_PARAMETER(...))` compares a value with the whole array).
SELECT
    campaign_id,
    campaign AS campaign_name,
    CUSTOM_PARAMETER('brand') AS brand,
    COUNT(DISTINCT user_id) AS purchasers,
    SUM(purchases) AS purchases,
    SUM(product_sales) AS sales
FROM amazon_attributed_events_by_conversion_time
WHERE ARRAY_CONTAINS(CUSTOM_PARAMETER('asins'), tracked_asin)
  AND impression_date >= CUSTOM_PARAMETER('lookback_start')
GROUP BY campaign_id, campaign
