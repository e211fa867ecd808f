-- Vehicle purchases reported by Experian, per make and fuel type (a paid feature).
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/experian_paid
-- expect: ok
-- rows: some
SELECT
  vehicle_make,
  vehicle_fuel_type,
  COUNT(DISTINCT user_id) AS users
FROM experian_vehicle_purchases
GROUP BY 1, 2
