-- The KPI index (migration of metrics/kpi): what lets the KPI queries read
-- what a window needs, not the years stored. Every KPI of KPIS.md is about
-- referrals picked by a time (created, completed, an appointment slot, an
-- authorization decision in a window) or by a key (a referrer's or a service
-- line's referrals). The queries take those referral ids from kpi_index by a
-- primary-key range, then read the referrals' exact facts from referral_facts,
-- appointment_facts and kpi_created in the primary-key range of the ids, so the
-- facts stay the single source of every value.
--
-- kpi_index rows (kind, key_value, at, referral); the kinds are
-- schema.IndexKind (contract.go), which the templates render by name:
--   created               ''            created at   referral.created
--   completed             ''            completed at appointment.completed
--   slot                  ''            scheduled_for appointment.booked / rescheduled
--   decided               ''            decided at   referral.auth_approved / auth_denied
--   booked                ''            booked at    appointment.booked
--   closed                ''            closed at    referral.cancelled / referral.rejected
--   service_line_created  service_line  created at   referral.created
--   referrer_created      referrer_id   created at   referral.created
--   service_line          service_line  1970-01-01, '' referral.created: the service
--                                       lines ever seen (collapses to one row each)
-- Rows are candidates, not facts: a referral's created_at is its earliest
-- referral.created and its dimensions are that event's, which the queries
-- check; a referral with two created events has two "created" rows. The kinds
-- booked and closed let the backlog drop the referrals already booked or
-- closed (which stay so) before reading their facts.
--
-- Idempotent: a row is a function of one event, so a duplicate delivery adds an
-- identical row, which ReplacingMergeTree (the sorting key is the whole row)
-- collapses on merge, and which the queries' DISTINCT ignores before that.
-- Sorted by (kind, key_value, at): a window is one contiguous key range and a
-- referrer's or service line's history is another, whatever the table's size;
-- that is why there is no time partition. Small granules keep the per-key
-- lookups (a few rows each) from reading whole 8192-row granules.
--
-- On a cluster, kpi_index, kpi_created and the facts are sharded alike, by
-- referral, so a referral's index rows are on the shard of its facts and the
-- KPI queries can join the two shard by shard.
CREATE TABLE IF NOT EXISTS {{.Local "kpi_index"}}{{.OnCluster}}
(
    kind UInt8,
    key_value String,
    at DateTime('UTC'),
    referral String
)
ENGINE = {{.Engine "kpi_index" "ReplacingMergeTree"}}
ORDER BY (kind, key_value, at, referral)
SETTINGS index_granularity = 1024;

{{template "distributed" .Distributed "kpi_index" "cityHash64(referral)"}}

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.kpi_index_mv{{.OnCluster}} TO {{.Local "kpi_index"}} AS
{{- template "kpi_index_select" .OnShard}};

-- Backfill events stored before the view existed; see 0002.
INSERT INTO {{.DB}}.kpi_index{{.BackfillSettings}}
{{- template "kpi_index_select" .}};

-- kpi_referrers: per referrer, its earliest referral.created: when, and of which
-- referral (ties by event id). One row per referrer after merges, so the
-- referrer activity KPI can tell a new referrer ("no referral at or before
-- T-90d", however long ago) from a returning one by reading a row or so each,
-- not the referrer's history. That referral is confirmed in kpi_created (a later
-- referral.created of a referral whose earliest names another referrer does not
-- make the referral this referrer's); kpi_index's referrer_created rows hold
-- every one for the rare rest. Tiny granules: lookups are by scattered referrer ids.
--
-- On a cluster each shard holds its referrals' state per referrer, and reads
-- merge the shards' states (minMerge over the Distributed table); rows inserted
-- through it (a backfill) are spread by referrer.
CREATE TABLE IF NOT EXISTS {{.Local "kpi_referrers"}}{{.OnCluster}}
(
    referrer_id String,
    first_created AggregateFunction(min, DateTime('UTC')),
    first_referral AggregateFunction(argMin, String, Tuple(DateTime('UTC'), String))
)
ENGINE = {{.Engine "kpi_referrers" "AggregatingMergeTree"}}
ORDER BY referrer_id
SETTINGS index_granularity = 8;

{{template "distributed" .Distributed "kpi_referrers" "cityHash64(referrer_id)"}}

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.kpi_referrers_mv{{.OnCluster}} TO {{.Local "kpi_referrers"}} AS
{{- template "kpi_referrers_select" .OnShard}};

INSERT INTO {{.DB}}.kpi_referrers{{.BackfillSettings}}
{{- template "kpi_referrers_select" .}};

-- kpi_created: every referral.created as a plain row, sorted by referral and
-- time, so a referral's dimensions (those of its earliest, ties by event id) are
-- its first row: the KPI queries read them with ORDER BY ... LIMIT 1 BY over
-- plain columns, which on ClickHouse 18.16 costs a fraction of merging
-- referral_facts' argMinIf states, and confirm scattered referrals' dimensions by
-- id in granules of 16 rows. A duplicate delivery is an identical row, which
-- ReplacingMergeTree collapses and LIMIT 1 BY ignores.
CREATE TABLE IF NOT EXISTS {{.Local "kpi_created"}}{{.OnCluster}}
(
    referral_id String,
    event_time DateTime('UTC'),
    event_id String,
    service_line {{.Enum}},
    location_id {{.Enum}},
    referrer_id String,
    referrer_type {{.Enum}},
    referrer_network {{.Enum}},
    payer_class {{.Enum}},
    priority {{.Enum}}
)
ENGINE = {{.Engine "kpi_created" "ReplacingMergeTree"}}
ORDER BY (referral_id, event_time, event_id)
SETTINGS index_granularity = 16;

{{template "distributed" .Distributed "kpi_created" "cityHash64(referral_id)"}}

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.kpi_created_mv{{.OnCluster}} TO {{.Local "kpi_created"}} AS
{{- template "kpi_created_select" .OnShard}};

INSERT INTO {{.DB}}.kpi_created{{.BackfillSettings}}
{{- template "kpi_created_select" .}};
