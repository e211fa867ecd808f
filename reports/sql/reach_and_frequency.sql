-- Unique reach and average frequency per day and campaign across display and video.
SELECT
    event_date,
    campaign_id,
    COUNT(DISTINCT user_id) AS reach,
    SUM(impressions) AS impressions,
    SUM(impressions) / NULLIF(COUNT(DISTINCT user_id), 0) AS average_frequency
FROM dsp_impressions
GROUP BY event_date, campaign_id
