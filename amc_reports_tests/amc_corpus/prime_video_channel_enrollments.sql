-- Prime Video Channels subscriptions per benefit and billing type (Prime Video Channel Insights, a paid feature).
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/datasources/prime_video_channel_insights_paid
-- expect: ok
-- rows: some
SELECT
  pv_benefit_name,
  pv_billing_type,
  COUNT(DISTINCT pv_subscription_id) AS subscriptions,
  COUNT(DISTINCT user_id) AS users
FROM amazon_pvc_enrollments
GROUP BY 1, 2
