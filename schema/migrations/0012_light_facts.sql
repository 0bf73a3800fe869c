-- Lighter referral_facts (issue 13): referral_facts' view was most of the
-- insert and merge work of an event. It kept ten argMinIf states (a copy of
-- the (event_time, event_id) key each) for the dimensions of the earliest
-- referral.created and states no reader reads. Now:
--   * created_event: one minIf state of the tuple (event_time, event_id,
--     schema.CreatedDimensions...), i.e. the earliest creation, ties by event
--     id, with that event's dimensions; it replaces created_at and the dim_*
--     states with the same values, as of any T (created_at <= T);
--   * dropped, read by no query: last_event_at, dim_source, info_received_at
--     (the KPIs read referral_stages' info_received).
-- Idempotent as before: a minimum of a function of the event.
--
-- The data stays in place. Order, so that no event is missed and every
-- referral's creation lands in created_event exactly once or more:
--   1. add created_event (and give the Distributed table the column);
--   2. a second view writes the new states from every insert on;
--   3. the existing rows' created_event is made from their old states: the
--      earliest creation's (time, event id) is the least kind-0 tuple of
--      `destinations` (the same events, ordered alike: see 0002), its
--      dimensions the argMinIf states'. Rows the old view writes meanwhile
--      are converted too or written by the new view as well: the same state;
--   4. the old view, then v_referrals (which reads the old states) go and
--      v_referrals is made again over created_event;
--   5. the old columns go.
-- A re-run (a crash before the version was recorded) repeats each step: ADD
-- and DROP COLUMN are skipped when done, and so is the conversion once the
-- columns it reads are gone (Migrate's execOnce; the /* until */ mark).
-- On a cluster the conversion must reach the shards before the Distributed
-- table is made again, which would discard rows still queued: Migrate runs
-- with insert_distributed_sync = 1 there.
-- Readers fail between DROP and CREATE of v_referrals (and, on a cluster, of
-- the Distributed referral_facts), not the ingester.
ALTER TABLE {{.Local "referral_facts"}}{{.OnCluster}} ADD COLUMN created_event AggregateFunction(minIf, Tuple(DateTime('UTC'), String{{range createdDimensions}}, String{{end}}), UInt8) AFTER first_event_at;
{{- if .Cluster}}
-- 18.16 refuses ALTER ... ON CLUSTER of a table that is not replicated: the
-- Distributed referral_facts takes its columns anew from referral_facts_local.
DROP TABLE IF EXISTS {{.DB}}.referral_facts{{.OnCluster}};
{{- end}}

{{template "distributed" .Distributed "referral_facts" "cityHash64(referral_id)"}}

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.PHIDB}}.referral_facts_light_mv{{.OnCluster}} TO {{.Local "referral_facts"}} AS
{{- template "referral_facts_select" .WithEventsInPHI.WithSetStates.OnShard}};

INSERT INTO {{.DB}}.referral_facts (referral_id, created_event){{.BackfillSettings}}
SELECT referral_id, minIfState(tuple(tupleElement(first_created, 1), tupleElement(first_created, 3){{range createdDimensions}}, d_{{.}}{{end}}), toUInt8(1))
FROM
(
    SELECT
        referral_id,
        minIfMerge(created_at) AS m_created,
        -- (event_time, 0, event_id, ...) of the earliest referral.created
        arrayReduce('min', arrayFilter(x -> x.2 = 0, groupUniqArrayIfMerge(destinations))) AS first_created
{{- range createdDimensions}},
        argMinIfMerge(dim_{{.}}) AS d_{{.}}
{{- end}}
    FROM {{.DB}}.referral_facts /* until dim_service_line is dropped */
    GROUP BY referral_id
    HAVING m_created > toDateTime(0, 'UTC')
)
GROUP BY referral_id;

DROP TABLE IF EXISTS {{.PHIDB}}.referral_facts_mv{{.OnCluster}};

DROP TABLE IF EXISTS {{.DB}}.v_referrals{{.OnCluster}};

{{template "v_referrals" .WithSetStates}};

ALTER TABLE {{.Local "referral_facts"}}{{.OnCluster}} DROP COLUMN last_event_at, DROP COLUMN created_at, DROP COLUMN dim_source
{{- range createdDimensions}}, DROP COLUMN dim_{{.}}{{end}}, DROP COLUMN info_received_at;
{{- if .Cluster}}
DROP TABLE IF EXISTS {{.DB}}.referral_facts{{.OnCluster}};
{{- end}}

{{template "distributed" .Distributed "referral_facts" "cityHash64(referral_id)"}}
