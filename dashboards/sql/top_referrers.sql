-- Top referrers by referrals in the last 90 days, with their scorecard over
-- the last 365 days (v_referrer_scorecard; ratios NULL where their denominator
-- is 0). A referrer is counted across all service lines and locations.
SELECT
    referrer_id,
    referrer_type,
    referrer_network,
    referrals_90d,
    baseline_90d,
    referrals_365d,
    scheduled_rate,
    completed_rate,
    leakage_rate,
    median_days_to_appointment,
    closed_loop_rate
FROM v_referrer_scorecard
WHERE referrals_90d > 0
ORDER BY referrals_90d DESC, referrer_id
LIMIT 25
