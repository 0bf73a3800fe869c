-- The referrer and service line of listed referrals: those of each one's
-- earliest referral.created (ties by event id), from kpi_created by referral id.
-- Columns: referral_id, referrer_id, service_line.
SELECT referral_id, referrer_id, CAST(service_line AS String)
FROM {{.DB}}.kpi_created
WHERE referral_id IN ({{.Values}})
ORDER BY referral_id, event_time, event_id
LIMIT 1 BY referral_id
