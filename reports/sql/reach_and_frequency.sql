-- Unique reach and average frequency per day and Amazon DSP campaign (display and video).
SELECT
    impression_date AS event_date,
    campaign_id,
    campaign AS campaign_name,
    COUNT(DISTINCT user_id) AS reach,
    SUM(impressions) AS impressions,
    SUM(impressions) / COUNT(DISTINCT user_id) AS average_frequency
FROM dsp_impressions
GROUP BY impression_date, campaign_id, campaign
