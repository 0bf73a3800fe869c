{{- /*
Referrer attention (KPIS.md "Referrer attention"), written once: the view
v_referrer_attention (migration 0007) renders it as of now() over
v_referrals, and package metrics/kpi as of any T over its kpi_index lookup,
through schema.ReferrerAttentionSQL. .T is T as Unix seconds (an Int64
expression); .Source is a query with one row per referral created at or
before T (more are dropped here) and the columns, as of T:
  rid String, created Int64 (Unix seconds), referrer, rorg, rtype, sl String,
  leaked UInt8, completed Int64 (first_completed_at, 0 when none),
  loop_closed UInt8 (a consult note at or after first_completed_at).
One row per referrer with a referral in (T-365d, T], in the liaisons' order:
critical, high, medium, minor, then base descending, then referrer_id.
Readings KPIS.md leaves open: referrer_org_id and referrer_type are those of
the referrer's latest referral of the 365 days (ties: the greater referral
id), as the referrer activity KPI takes the type; the main service line is
the one with most of those referrals (ties: the first by name).
The level compares integers, c being the referrals in (T-365d, T-90d]:
base >= 2 is 90c >= 550, base >= 1 is 90c >= 275, and drop >= x (base > 0)
is n <= (1-x)·base, i.e. 110n <= 9c (0.75), 55n <= 9c (0.5), 110n <= 27c
(0.25), so no float rounding moves a referrer across a boundary.
*/ -}}
SELECT referrer_id, referrer_org_id, referrer_type, service_line, n, base, `drop`, days_since_last,
       leak_share, open_loops, level
FROM
(
    SELECT
        referrer AS referrer_id,
        argMax(sl_org, tuple(sl_last, sl_last_rid)) AS referrer_org_id,
        argMax(sl_type, tuple(sl_last, sl_last_rid)) AS referrer_type,
        argMin(sl, tuple(-toInt64(sl_count), sl)) AS service_line,
        sum(sl_n) AS n,
        sum(sl_c) AS c,
        c * 90 / 275 AS base,
        if(c > 0, 1 - n / base, 0) AS `drop`,
        intDiv({{.T}} - max(sl_last), 86400) AS days_since_last,
        sum(sl_leaked) AS leaked_n,
        sum(sl_count) AS all_n,
        leaked_n / all_n AS leak_share,
        sum(sl_open) AS open_loops,
        multiIf(
            90 * c >= 550 AND (110 * n <= 9 * c OR days_since_last >= 60), 'critical',
            90 * c >= 275 AND (55 * n <= 9 * c OR 2 * leaked_n >= all_n), 'high',
            (c > 0 AND 110 * n <= 27 * c) OR open_loops >= 3, 'medium',
            'minor') AS level,
        indexOf(['critical', 'high', 'medium', 'minor'], level) AS level_rank
    FROM
    (
        SELECT
            referrer,
            sl,
            count() AS sl_count,
            countIf(created > {{.T}} - 90 * 86400) AS sl_n,
            countIf(created <= {{.T}} - 90 * 86400) AS sl_c,
            max(created) AS sl_last,
            argMax(rid, tuple(created, rid)) AS sl_last_rid,
            argMax(rorg, tuple(created, rid)) AS sl_org,
            argMax(rtype, tuple(created, rid)) AS sl_type,
            sum(leaked) AS sl_leaked,
            countIf(completed > 0 AND completed <= {{.T}} - {{loopClosedWithinSeconds}} AND loop_closed = 0) AS sl_open
        FROM
        (
            {{.Source}}
        )
        WHERE created > {{.T}} - 365 * 86400 AND created <= {{.T}}
        GROUP BY referrer, sl
    )
    GROUP BY referrer
)
ORDER BY level_rank, base DESC, referrer_id
