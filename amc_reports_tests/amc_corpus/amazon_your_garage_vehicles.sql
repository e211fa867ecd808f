-- Vehicle types saved in Amazon Your Garage by users an ad reached (a paid feature).
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/amazon_your_garage_paid
-- expect: ok
-- rows: some
SELECT
  g.vehicle_type,
  COUNT(DISTINCT g.user_id) AS users
FROM amazon_your_garage g
JOIN (SELECT DISTINCT user_id FROM dsp_impressions) i ON g.user_id = i.user_id
GROUP BY g.vehicle_type
