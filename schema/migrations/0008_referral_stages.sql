-- referral_stages: the per-referral facts of KPIS.md "Stage, priority and payer
-- KPIs (version 2)" that referral_facts does not hold, for the KPI queries of
-- package metrics/kpi (time to triage, information turnaround, leakage by
-- reason). A table of its own beside referral_facts, read in the same
-- primary-key range of referral ids; only referrals with one of these events
-- have a row, so it stays small. As of T, like referral_facts:
--   * rejected_at: the earliest referral.rejected (referral_facts' closed_at
--     merges rejections with cancellations; the triage decision needs them
--     apart);
--   * info_received: every referral.info_received time, so the earliest at or
--     after the earliest info_requested can be picked as of T;
--   * leak_reason: the reason of the earliest referral.leaked, ties by event id
--     ('' when it carries none).
-- Every state is idempotent (min, argMin, groupUniqArray of event values), so
-- duplicates, replays and the backfill's overlap with the view change nothing.
-- On a cluster it is sharded by referral like referral_facts.
CREATE TABLE IF NOT EXISTS {{.Local "referral_stages"}}{{.OnCluster}}
(
    referral_id String,
    rejected_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    info_received AggregateFunction(groupUniqArrayIf, DateTime('UTC'), UInt8),
    leak_reason AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8)
)
ENGINE = {{.Engine "referral_stages" "AggregatingMergeTree"}}
ORDER BY referral_id;

{{template "distributed" .Distributed "referral_stages" "cityHash64(referral_id)"}}

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.referral_stages_mv{{.OnCluster}} TO {{.Local "referral_stages"}} AS
{{- template "referral_stages_select" .OnShard}};

INSERT INTO {{.DB}}.referral_stages{{.BackfillSettings}}
{{- template "referral_stages_select" .}};
