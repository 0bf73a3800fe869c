-- Referrer attention as of T: the per-referral facts schema.ReferrerAttentionSQL
-- (schema/sql/referrer_attention.sql) ranks, for the referrals created in
-- (T-365d, T], read through the "lookback" lookup like the referrer activity.
-- Columns: rid, created, referrer, rorg, rtype, sl, leaked, completed,
-- loop_closed (a consult note at or after the first completed visit, by T).
SELECT
    rid,
    toInt64(m_created) AS created,
    referrer,
    rorg,
    rtype,
    sl,
    is_leaked AS leaked,
    if(is_completed = 1, toInt64(m_completed), toInt64(0)) AS completed,
    toUInt8(arrayExists(x -> x.1 >= m_completed AND x.1 <= {{.T}}, notes)) AS loop_closed
FROM
(
    {{template "referrals" (lookup . "lookback").WithOrg}}
)
WHERE toInt64(m_created) > {{.LookbackFrom}}
