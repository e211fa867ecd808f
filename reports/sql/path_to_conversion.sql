-- The most common ordered campaign paths before a purchase, with conversions and sales per path.
WITH paths AS (
    SELECT user_id, ARRAY_SORT(COLLECT(campaign_id)) AS path
    FROM sponsored_ads_traffic
    GROUP BY user_id
)
SELECT
    path_id,
    path AS path_description,
    path_length,
    COUNT(user_id) AS users,
    SUM(purchases) AS conversions,
    SUM(product_sales) AS sales
FROM paths
GROUP BY path_id, path, path_length
