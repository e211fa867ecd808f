-- New-to-brand purchasers per campaign: how many of the week's buyers of the promoted products had
-- not bought from the brand in the prior 12 months. Conversions of the week (by conversion time),
-- attributed to ads up to 14 days earlier.
SELECT
    campaign_id,
    campaign AS campaign_name,
    COUNT(DISTINCT user_id) AS purchasers,
    COUNT(DISTINCT CASE WHEN new_to_brand THEN user_id END) AS new_to_brand_purchasers,
    SUM(purchases) AS purchases,
    SUM(new_to_brand_purchases) AS new_to_brand_purchases,
    SUM(product_sales) AS sales,
    SUM(new_to_brand_product_sales) AS new_to_brand_sales,
    SUM(new_to_brand_purchases) / NULLIF(SUM(purchases), 0) AS new_to_brand_rate
FROM amazon_attributed_events_by_conversion_time
WHERE purchases > 0
GROUP BY campaign_id, campaign
