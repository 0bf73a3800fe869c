-- The CMS50-style closed loop's per-referral tables (migration 0010) in the
-- KPI state too (0018): referral_patient_order and referrer_notes again, keyed
-- by the referral's creation time, so that the CMS50-style query reads its
-- cohort's rows by a primary-key range, not (with ids that do not sort by
-- time) both whole tables: 2 M of the 5.5 M rows a refresh read at 10 M
-- events with random ids. The pass (sql/kpi_state.sql) writes them like the
-- other *_by_created tables, with the tables' own columns: the order's row of
-- the highest version, the notes' merged state.
--
-- The writer's recompute of the order rewrites the rows of referrals that
-- have no new event (a patient's later referrals when an earlier one
-- arrives), which the events' view does not log: a view on the order logs
-- every referral whose row is written as touched, so that the next pass
-- writes its state again. 18.16 runs a table's views after writing it: the
-- touch is never before its row. The view lives in PHIDB with the others,
-- out of the readers' sight.
CREATE TABLE IF NOT EXISTS {{.Local "referral_patient_order_by_created"}}{{.OnCluster}}
(
    created_at DateTime('UTC'),
    referral_id String,
    prev_patient_referral_created_at DateTime('UTC'),
    version UInt64
)
ENGINE = {{.Engine "referral_patient_order_by_created" "ReplacingMergeTree" "version"}}
ORDER BY (created_at, referral_id);

{{template "distributed" .Distributed "referral_patient_order_by_created" "cityHash64(referral_id)"}}

CREATE TABLE IF NOT EXISTS {{.Local "referrer_notes_by_created"}}{{.OnCluster}}
(
    created_at DateTime('UTC'),
    referral_id String,
    note_times AggregateFunction(groupUniqArray, DateTime('UTC'))
)
ENGINE = {{.Engine "referrer_notes_by_created" "AggregatingMergeTree"}}
ORDER BY (created_at, referral_id);

{{template "distributed" .Distributed "referrer_notes_by_created" "cityHash64(referral_id)"}}

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.PHIDB}}.kpi_touched_order_mv{{.OnCluster}} TO {{.Local "kpi_touched"}} AS
SELECT now() AS touched_at, referral_id
FROM {{.OnShard.From "referral_patient_order"}}
GROUP BY referral_id;

-- Backfill: the referrals with an order row or a note are touched, and the
-- next pass writes their states (until then the readers read their rows from
-- the tables themselves, exact).
INSERT INTO {{.DB}}.kpi_touched{{.BackfillSettings}}
SELECT now(), referral_id
FROM {{.DB}}.referral_patient_order
GROUP BY referral_id;

INSERT INTO {{.DB}}.kpi_touched{{.BackfillSettings}}
SELECT now(), referral_id
FROM {{.DB}}.referrer_notes
GROUP BY referral_id;
