-- referral_facts: one row per referral after merges, holding aggregate states
-- from which every per-referral fact of KPIS.md can be evaluated exactly as of
-- any past time T (events after T ignored). Read with the -Merge combinators
-- grouped by referral_id (see sql/referral_facts_asof.sql for the reference).
--
-- Every state is idempotent: min/max/argMin/groupUniqArray of values that are a
-- function of the event (same id => same tuple), never count or sum. So a
-- duplicate delivery, a backfill overlapping the view, or a replay changes
-- nothing after -Merge, before or after background merges.
--
-- As of T:
--   * monotone facts are minIf states (the earliest time of a kind of event):
--     the fact as of T is the stored minimum if it is <= T, else "not yet";
--   * dimensions come from the earliest referral.created, argMinIf keyed by
--     (event_time, event_id) so ties resolve the same everywhere; as of T they
--     hold exactly when created_at <= T;
--   * non-monotone histories are sets of small tuples, filtered by time <= T:
--     destinations (created + redirected), auth decisions, consult notes.
--
-- State column names must differ from every `events` column: ClickHouse 18.16
-- resolves a SELECT alias even inside its own aggregate's arguments.
--
-- On a cluster each shard's view feeds its referral_facts_local from its
-- events_local; all events of a referral are on one shard, so its row is too.
CREATE TABLE IF NOT EXISTS {{.Local "referral_facts"}}{{.OnCluster}}
(
    referral_id String,
    -- any event at all: first_event_at <= T means the referral exists as of T
    first_event_at AggregateFunction(min, DateTime('UTC')),
    -- latest activity; informational (not an as-of-T fact)
    last_event_at AggregateFunction(max, DateTime('UTC')),
    created_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    -- dimensions of the earliest referral.created
    dim_source AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8),
    dim_service_line AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8),
    dim_location_id AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8),
    dim_referrer_id AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8),
    dim_referrer_org_id AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8),
    dim_referrer_type AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8),
    dim_referrer_network AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8),
    dim_payer_class AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8),
    dim_priority AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8),
    dim_channel AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8),
    dim_patient_token AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8),
    -- (event_time, kind: 0 created / 1 redirected, event_id, destination_network,
    -- destination_org_id); the final destination as of T is the greatest tuple
    -- with time <= T, so at equal times a redirect wins over the creation.
    destinations AggregateFunction(groupUniqArrayIf, Tuple(DateTime('UTC'), UInt8, String, String, String), UInt8),
    accepted_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    -- referral.cancelled or referral.rejected
    closed_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    info_requested_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    info_received_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    auth_requested_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    -- (event_time, event_id, approved: 1 auth_approved / 0 auth_denied)
    auth_decisions AggregateFunction(groupUniqArrayIf, Tuple(DateTime('UTC'), String, UInt8), UInt8),
    leaked_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    first_booked_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    first_completed_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    -- (event_time, event_id) of communication.consult_note_sent
    consult_notes AggregateFunction(groupUniqArrayIf, Tuple(DateTime('UTC'), String), UInt8)
)
ENGINE = {{.Engine "referral_facts" "AggregatingMergeTree"}}
ORDER BY referral_id;

{{template "distributed" .Distributed "referral_facts" "cityHash64(referral_id)"}}

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.referral_facts_mv{{.OnCluster}} TO {{.Local "referral_facts"}} AS
{{- template "referral_facts_select_argmin" .OnShard}};

-- Backfill events stored before the view existed (an upgrade, or an ingester
-- that raced the migration). Idempotent states make the overlap with rows the
-- view already fed, and a re-run of this migration, harmless. On a cluster it
-- reads and writes the Distributed tables, so every shard is backfilled.
INSERT INTO {{.DB}}.referral_facts{{.BackfillSettings}}
{{- template "referral_facts_select_argmin" .}};
