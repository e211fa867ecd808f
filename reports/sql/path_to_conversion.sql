-- The most common paths to a purchase: for each user who bought in the week, the ad channels
-- (Amazon DSP, or the sponsored ads product) they saw or clicked before their first purchase, in
-- the order they first met them. Users, purchases and sales per path.
WITH purchasers AS (
    SELECT
        user_id,
        MIN(conversion_event_dt) AS first_purchase_dt,
        SUM(total_purchases) AS purchases,
        SUM(total_product_sales) AS sales
    FROM amazon_attributed_events_by_conversion_time
    WHERE total_purchases > 0
    GROUP BY user_id
),
touches AS (
    SELECT user_id, 'dsp' AS channel, MIN(impression_dt) AS first_touch_dt
    FROM dsp_impressions
    GROUP BY user_id
    UNION ALL
    SELECT user_id, ad_product_type AS channel, MIN(event_dt) AS first_touch_dt
    FROM sponsored_ads_traffic
    GROUP BY user_id, ad_product_type
),
paths AS (
    SELECT
        p.user_id,
        MAX(p.purchases) AS purchases,
        MAX(p.sales) AS sales,
        ARRAY_JOIN(
            TRANSFORM(
                ARRAY_SORT(COLLECT_LIST(NAMED_STRUCT('at', t.first_touch_dt, 'channel', t.channel))),
                x -> x.channel
            ),
            ' > '
        ) AS path,
        COUNT(*) AS path_length
    FROM purchasers p
    JOIN touches t ON t.user_id = p.user_id AND t.first_touch_dt < p.first_purchase_dt
    GROUP BY p.user_id
)
SELECT
    path,
    path_length,
    COUNT(user_id) AS users,
    SUM(purchases) AS purchases,
    SUM(sales) AS sales
FROM paths
GROUP BY path, path_length
