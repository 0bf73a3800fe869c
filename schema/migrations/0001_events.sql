-- events: one row per stored event, the raw record analysts and backfills read.
--
-- Deduplication: the event id is the idempotency key, and a given id always has
-- the same referral (subject) and time, so ORDER BY (referral_id, event_time,
-- event_id) identifies an event exactly as event_id alone would, and
-- ReplacingMergeTree collapses redeliveries into one row at merge time (queries
-- that must not see pre-merge duplicates use FINAL, DISTINCT event_id or, better,
-- the idempotent facts tables). The same id lands in the same monthly partition
-- because its time is the same, so partitioning never splits a duplicate pair.
-- The version column ingested_at keeps the latest delivery, deterministically.
--
-- The sort order serves the common reads: one referral's timeline (worklists,
-- drill-downs, late-event debugging) is a contiguous range already sorted by
-- time, and time-window scans prune by month partition.
--
-- Enum-like strings are LowCardinality where the server supports it without
-- experimental settings; ids stay String. scheduled_for is 1970-01-01 00:00:00
-- when the event has none. Retention is a TTL where supported; with
-- ttl_only_drop_parts whole expired parts are dropped instead of rewritten.
--
-- On a cluster (cluster.go) the rows live in events_local, a
-- ReplicatedReplacingMergeTree on every server, and `events` is the Distributed
-- table over it, sharded by referral: the ingester inserts into it unchanged.
CREATE TABLE IF NOT EXISTS {{.Local "events"}}{{.OnCluster}}
(
    event_id String,
    event_type {{.Enum}},
    event_time DateTime('UTC'),
    referral_id String,
    source {{.Enum}},
    referrer_id String,
    referrer_org_id String,
    referrer_type {{.Enum}},
    referrer_network {{.Enum}},
    service_line {{.Enum}},
    location_id {{.Enum}},
    destination_network {{.Enum}},
    destination_org_id String,
    payer_class {{.Enum}},
    priority {{.Enum}},
    channel {{.Enum}},
    patient_token String,
    reason {{.Enum}},
    missing Array(String),
    appointment_id String,
    scheduled_for DateTime('UTC'),
    visit_type {{.Enum}},
    cancelled_by {{.Enum}},
    recipient {{.Enum}},
    outcome {{.Enum}},
    kafka_topic {{.Enum}},
    kafka_partition Int32,
    kafka_offset Int64,
    ingested_at DateTime('UTC')
)
ENGINE = {{.Engine "events" "ReplacingMergeTree" "ingested_at"}}
PARTITION BY toYYYYMM(event_time)
ORDER BY (referral_id, event_time, event_id)
{{- if .TTL}}
TTL event_time + toIntervalDay({{.RetentionDays}})
SETTINGS ttl_only_drop_parts = 1
{{- end}};

{{template "distributed" .Distributed "events" "cityHash64(referral_id)"}}
