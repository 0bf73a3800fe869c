-- v_loops: one row per referral with a first completed visit (as of now), the
-- loop that a consult note sent back to the referrer closes, with the
-- closed-loop rule (sql/analyst_views.sql, schema.LoopClosedWithin) as columns:
--   loop_matured            1 when the visit is old enough for its loop to be
--                           judged (the closed-loop cohort's condition);
--   loop_closed_within_14d  1 when the first consult note was sent within the
--                           rule's 14 days of the visit.
-- The dashboards' closed-loop panels count these columns instead of repeating
-- the rule. A view over v_referrals, so it adds no fact of its own; a new view
-- rather than new columns of v_referrals because ClickHouse 18.16 cannot
-- replace a view without dropping it, which a concurrent migration creating a
-- view over it would trip over.
CREATE VIEW IF NOT EXISTS {{.DB}}.v_loops{{.OnCluster}} AS
SELECT
    referral_id,
    service_line,
    location_id,
    referrer_id,
    referrer_type,
    referrer_network,
    first_completed_at,
    loop_closed_at,
    days_to_loop_close,
    toUInt8(ifNull({{template "loop_matured"}}, 0)) AS loop_matured,
    toUInt8(ifNull({{template "loop_closed_within"}}, 0)) AS loop_closed_within_14d
FROM {{.DB}}.v_referrals
WHERE first_completed_at IS NOT NULL;
