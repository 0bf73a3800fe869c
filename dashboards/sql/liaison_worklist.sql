-- The liaison worklist (KPIS.md "Referrer attention") as of now: the first 50
-- referrers of v_referrer_attention, critical first, then high, medium and
-- minor, each by base descending (then referrer id), as the view orders them
-- and the level ranks again here so the LIMIT keeps the top whatever the
-- engine does with a view's order. Referrer and organization ids and counts
-- only, no patient data. A referrer's id links to its weekly trend.
SELECT
    referrer_id,
    level,
    referrer_type,
    referrer_org_id,
    service_line,
    n,
    base,
    `drop`,
    days_since_last,
    leak_share,
    open_loops
FROM v_referrer_attention
ORDER BY indexOf(['critical', 'high', 'medium', 'minor'], level), base DESC, referrer_id
LIMIT 50
