-- The per-referral KPI state (issue 13, docs/scaling.md "Random ids"): the
-- facts of referral_facts, referral_stages and appointment_facts again, keyed
-- by the referral's creation time instead of its id. A KPI lookup of the
-- referrals created in a span then reads a primary-key range of these tables,
-- however the ids sort; through the facts it reads every referral whose id
-- lies between the span's least and greatest, which for ids that do not sort
-- by time (UUIDs, most EHR ids) is all of them.
--
-- A view cannot write them: the creation time of a referral is not on its
-- other events. A pass does (sql/kpi_state.sql, schema.PassKPIState, run by
-- the ingesters), from a log of the referrals whose facts changed:
--   * kpi_touched: (touched_at, referral_id) of every stored event, by a
--     view: touched_at is the server's now() when the view ran. The views of
--     an INSERT run one after another or side by side, and 18.16 runs no
--     view on a view's target, so the facts of a block may be stored a little
--     after its touches: a pass leaves the latest touches alone for a margin
--     (schema.DefaultKPIStateMargin);
--   * the *_by_created tables: per creation time of a referral (each of its
--     referral.created events), the merged states of its facts (the facts'
--     own columns and types). The pass rewrites the full states of each
--     touched referral at every creation time it has: the states are minima,
--     sets and lists read through arrayDistinct, so a repeated or concurrent
--     pass changes nothing, and a row left under a later creation time still
--     says (by created_event) when the referral was first created;
--   * kpi_state_index: the state's keys (created_at, referral_id) by the
--     times the other lookups look referrals up by: the slots of their
--     appointments, their authorization decisions and their first completed
--     visit (kpi_index kinds slot, decided, completed), as the pass last saw
--     them. A time that changed leaves its old row: a lookup then reads one
--     referral more, whose facts the query filters like any other;
--   * kpi_state_passes: per pass, covered_to: every referral touched at or
--     before it had its states written after that touch was stored. Readers
--     take the state of the referrals in their span and the facts of those
--     touched after the greatest covered_to, merged: exact whatever the pass
--     has reached (metrics/kpi "by_created").
-- The backfill logs every referral with a creation as touched: the first
-- pass writes their states.
-- On a cluster all are sharded by referral like the facts, and kpi_touched is
-- written on each shard from its own facts; the passes' rows are sharded at
-- random and read through their Distributed table.
CREATE TABLE IF NOT EXISTS {{.Local "kpi_touched"}}{{.OnCluster}}
(
    touched_at DateTime('UTC'),
    referral_id String
)
ENGINE = {{.Engine "kpi_touched" "MergeTree"}}
PARTITION BY toYYYYMM(touched_at)
ORDER BY (touched_at, referral_id);

{{template "distributed" .Distributed "kpi_touched" "cityHash64(referral_id)"}}

CREATE TABLE IF NOT EXISTS {{.Local "referral_facts_by_created"}}{{.OnCluster}}
(
    created_at DateTime('UTC'),
    referral_id String,
    first_event_at AggregateFunction(min, DateTime('UTC')),
    created_event AggregateFunction(minIf, Tuple(DateTime('UTC'), String, String, String, String, String, String, String, String, String, String), UInt8),
    destinations_list AggregateFunction(groupArrayIf, Tuple(DateTime('UTC'), UInt8, String, String, String), UInt8),
    accepted_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    closed_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    info_requested_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    auth_requested_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    auth_decisions_list AggregateFunction(groupArrayIf, Tuple(DateTime('UTC'), String, UInt8), UInt8),
    leaked_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    first_booked_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    first_completed_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    consult_notes_list AggregateFunction(groupArrayIf, Tuple(DateTime('UTC'), String), UInt8)
)
ENGINE = {{.Engine "referral_facts_by_created" "AggregatingMergeTree"}}
ORDER BY (created_at, referral_id);

{{template "distributed" .Distributed "referral_facts_by_created" "cityHash64(referral_id)"}}

CREATE TABLE IF NOT EXISTS {{.Local "referral_stages_by_created"}}{{.OnCluster}}
(
    created_at DateTime('UTC'),
    referral_id String,
    rejected_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    info_received AggregateFunction(groupUniqArrayIf, DateTime('UTC'), UInt8),
    leak_reason AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8)
)
ENGINE = {{.Engine "referral_stages_by_created" "AggregatingMergeTree"}}
ORDER BY (created_at, referral_id);

{{template "distributed" .Distributed "referral_stages_by_created" "cityHash64(referral_id)"}}

CREATE TABLE IF NOT EXISTS {{.Local "appointment_facts_by_created"}}{{.OnCluster}}
(
    created_at DateTime('UTC'),
    referral_id String,
    appointment_id String,
    history_list AggregateFunction(groupArray, Tuple(DateTime('UTC'), UInt8, String, DateTime('UTC')))
)
ENGINE = {{.Engine "appointment_facts_by_created" "AggregatingMergeTree"}}
ORDER BY (created_at, referral_id, appointment_id);

{{template "distributed" .Distributed "appointment_facts_by_created" "cityHash64(referral_id)"}}

CREATE TABLE IF NOT EXISTS {{.Local "kpi_state_index"}}{{.OnCluster}}
(
    kind UInt8,
    at DateTime('UTC'),
    created_at DateTime('UTC'),
    referral_id String
)
ENGINE = {{.Engine "kpi_state_index" "ReplacingMergeTree"}}
ORDER BY (kind, at, created_at, referral_id);

{{template "distributed" .Distributed "kpi_state_index" "cityHash64(referral_id)"}}

CREATE TABLE IF NOT EXISTS {{.Local "kpi_state_passes"}}{{.OnCluster}}
(
    covered_to DateTime('UTC'),
    passed_at DateTime('UTC')
)
ENGINE = {{.Engine "kpi_state_passes" "MergeTree"}}
ORDER BY covered_to;

{{template "distributed" .Distributed "kpi_state_passes" "rand()"}}

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.PHIDB}}.kpi_touched_mv{{.OnCluster}} TO {{.Local "kpi_touched"}} AS
SELECT now() AS touched_at, referral_id
FROM {{.WithEventsInPHI.OnShard.From "events"}}
GROUP BY referral_id;

INSERT INTO {{.DB}}.kpi_touched{{.BackfillSettings}}
SELECT now(), referral_id
FROM {{.DB}}.kpi_created
GROUP BY referral_id;
