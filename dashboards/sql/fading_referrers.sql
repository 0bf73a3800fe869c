-- Fading and inactive referrers (KPIS.md referrer activity): n = referrals in
-- the last 90 days, base = referrals in the 275 days before, scaled to 90 days.
-- Fading: 0 < n < 0.5 * base; inactive: n = 0 and base > 0. Computed from the
-- exact counts (n < 0.5 * before * 90 / 275 is n * 550 < before * 90), not the
-- rounded baseline_90d. Largest drop first.
SELECT
    referrer_id,
    referrer_type,
    referrer_network,
    if(referrals_90d = 0, 'inactive', 'fading') AS state,
    referrals_90d,
    baseline_90d,
    baseline_90d - referrals_90d AS drop_90d,
    leakage_rate,
    closed_loop_rate
FROM v_referrer_scorecard
WHERE referrals_365d > referrals_90d
  AND referrals_90d * 550 < (referrals_365d - referrals_90d) * 90
ORDER BY drop_90d DESC, referrer_id
LIMIT 50
