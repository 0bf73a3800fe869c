-- Referrer activity (no window), per referrer_id over the referrals created in
-- (T-365d, T]: n = those in (T-90d, T], c = those in (T-365d, T-90d], base =
-- c * 90/275. new: n > 0 and c = 0 (final only once no earlier referral exists:
-- the caller checks the candidates, listed one per row, with kpi_referrers);
-- active: n > 0 and n >= 0.5 * base, i.e. 55n >= 9c in integers; fading:
-- 0 < n < 0.5 * base; inactive: n = 0 and c > 0. A referrer's type is that of
-- its latest referral in the 365 days (ties: the greater referral id).
-- Columns: referrer_type, state, referrer_id (new candidates only, else ''), referrers.
SELECT referrer_type, state, if(state = 'new', referrer, '') AS candidate, count() AS referrers
FROM
(
    SELECT
        referrer,
        argMax(rtype, tuple(m_created, rid)) AS referrer_type,
        countIf(toInt64(m_created) > {{.RecentFrom}}) AS n,
        countIf(toInt64(m_created) <= {{.RecentFrom}}) AS c,
        multiIf(n > 0 AND c = 0, 'new', n > 0 AND 55 * n >= 9 * c, 'active', n > 0, 'fading', 'inactive') AS state
    FROM
    (
        {{template "created" (lookup . "lookback")}}
    )
    WHERE toInt64(m_created) > {{.LookbackFrom}} AND m_created <= {{.T}}
    GROUP BY referrer
)
GROUP BY referrer_type, state, candidate
