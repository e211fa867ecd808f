-- Weekly delivery and results per sponsored ads campaign: the basic health report of an instance.
-- Traffic comes from sponsored_ads_traffic (one row per impression or click; spend in microcents,
-- charged per click); purchases and sales are the conversions attributed to that week's traffic
-- (by traffic time), so a week's results keep growing for 14 days after it ends (lag_days: 14).
-- New-to-brand purchases (first purchase from the brand in 12 months) feed the campaign KPIs
-- (amc/<instance>/campaign_kpis: CTR, CPC, ROAS, new-to-brand share).
WITH traffic AS (
    SELECT
        campaign_id,
        campaign,
        SUM(impressions) AS impressions,
        SUM(clicks) AS clicks,
        SUM(spend) AS spend_microcents
    FROM sponsored_ads_traffic
    GROUP BY campaign_id, campaign
),
attributed AS (
    SELECT
        campaign_id,
        SUM(purchases) AS purchases,
        SUM(product_sales) AS sales,
        SUM(new_to_brand_purchases) AS new_to_brand_purchases
    FROM amazon_attributed_events_by_traffic_time
    WHERE ad_product_type IS NOT NULL
    GROUP BY campaign_id
)
SELECT
    t.campaign_id,
    t.campaign AS campaign_name,
    t.impressions,
    t.clicks,
    t.spend_microcents / 100000000 AS spend,
    COALESCE(a.purchases, 0) AS purchases,
    COALESCE(a.sales, 0) AS sales,
    COALESCE(a.new_to_brand_purchases, 0) AS new_to_brand_purchases,
    t.clicks / NULLIF(t.impressions, 0) AS click_through_rate,
    COALESCE(a.sales, 0) / NULLIF(t.spend_microcents / 100000000, 0) AS return_on_ad_spend
FROM traffic t
LEFT JOIN attributed a ON a.campaign_id = t.campaign_id
