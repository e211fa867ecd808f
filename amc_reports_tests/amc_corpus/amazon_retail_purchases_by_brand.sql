-- Long-term retail purchases per brand (Amazon Retail Purchases, a paid feature).
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/amazon_retail_purchase_paid
-- expect: ok
-- rows: some
SELECT
  asin_brand,
  SUM(purchase_units_sold) AS units,
  COUNT(DISTINCT purchase_id) AS purchases,
  COUNT(DISTINCT user_id) AS users
FROM amazon_retail_purchases
GROUP BY asin_brand
