-- New-to-brand purchasers per campaign: how many buyers had not bought the brand in the prior 12 months.
SELECT
    campaign_id,
    campaign AS campaign_name,
    COUNT(DISTINCT user_id) AS purchasers,
    SUM(new_to_brand_purchases) AS new_to_brand_purchases,
    SUM(new_to_brand_product_sales) AS new_to_brand_sales,
    SUM(new_to_brand_purchases) / NULLIF(SUM(purchases), 0) AS new_to_brand_rate
FROM amazon_attributed_events_by_conversion_time
WHERE conversion_event_dt >= BUILT_IN_PARAMETER('TIME_WINDOW_START')
GROUP BY campaign_id, campaign
