-- Event lists (issue 13): the facts that keep every event of a kind
-- (referral_facts' destinations, auth_decisions and consult_notes,
-- appointment_facts' history; schema.eventLists) were groupUniqArray states.
-- Reading one builds a hash set per row: 0.55-0.6 s per column for the
-- 1.6 M referrals of the random-id bench (18.16), where a groupArray state of
-- the same events reads in 0.08 s. A KPI lookup of referrals scattered over
-- the history reads every row, so these reads were most of its time. They
-- become groupArray states (the *_list columns), which the views also write
-- for less; readers take arrayDistinct, the set the old states held, since a
-- list may hold a redelivered event twice.
--
-- The data stays in place. Order (0012's), so that no event is missed:
--   1. add the list columns (and give the Distributed tables the columns);
--   2. new views write them from every insert on;
--   3. the existing rows' lists are made from their sets. Rows the old views
--      write meanwhile are converted too, or written by the new views as
--      well: an event is then twice in a list, which arrayDistinct drops;
--   4. the old views go, then v_referrals (which reads the old states) goes
--      and is made again over the lists;
--   5. the old columns go.
-- A re-run repeats each step: ADD and DROP COLUMN are skipped when done, and
-- so is each conversion once the column it reads is gone (Migrate's
-- execOnce; the /* until */ mark).
-- On a cluster the conversion must reach the shards before the Distributed
-- tables are made again, which would discard rows still queued: Migrate runs
-- with insert_distributed_sync = 1 there.
-- Readers fail between DROP and CREATE of v_referrals (and, on a cluster, of
-- the Distributed tables), not the ingester. KPI readers of an older release
-- fail once the old columns are gone: upgrade them with the migration.
-- One column per ALTER: Migrate skips an ADD COLUMN whose column exists.
ALTER TABLE {{.Local "referral_facts"}}{{.OnCluster}} ADD COLUMN destinations_list AggregateFunction(groupArrayIf, Tuple(DateTime('UTC'), UInt8, String, String, String), UInt8) AFTER destinations;

ALTER TABLE {{.Local "referral_facts"}}{{.OnCluster}} ADD COLUMN auth_decisions_list AggregateFunction(groupArrayIf, Tuple(DateTime('UTC'), String, UInt8), UInt8) AFTER auth_decisions;

ALTER TABLE {{.Local "referral_facts"}}{{.OnCluster}} ADD COLUMN consult_notes_list AggregateFunction(groupArrayIf, Tuple(DateTime('UTC'), String), UInt8) AFTER consult_notes;

ALTER TABLE {{.Local "appointment_facts"}}{{.OnCluster}} ADD COLUMN history_list AggregateFunction(groupArray, Tuple(DateTime('UTC'), UInt8, String, DateTime('UTC'))) AFTER history;
{{- if .Cluster}}
-- 18.16 refuses ALTER ... ON CLUSTER of a table that is not replicated: the
-- Distributed tables take their columns anew from the local ones.
DROP TABLE IF EXISTS {{.DB}}.referral_facts{{.OnCluster}};

DROP TABLE IF EXISTS {{.DB}}.appointment_facts{{.OnCluster}};
{{- end}}

{{template "distributed" .Distributed "referral_facts" "cityHash64(referral_id)"}}

{{template "distributed" .Distributed "appointment_facts" "cityHash64(referral_id)"}}

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.PHIDB}}.referral_facts_lists_mv{{.OnCluster}} TO {{.Local "referral_facts"}} AS
{{- template "referral_facts_select" .WithEventsInPHI.OnShard}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.PHIDB}}.appointment_facts_lists_mv{{.OnCluster}} TO {{.Local "appointment_facts"}} AS
{{- template "appointment_facts_light_select" .WithEventsInPHI.OnShard}};
{{range .EventListConversions}}
INSERT INTO {{$.DB}}.{{.Table}} ({{.Keys}}, {{.Column}}_list){{$.BackfillSettings}}
SELECT {{.Keys}}, {{eventsState .Column false}}(entry{{if .Cond}}, toUInt8(1){{end}})
FROM
(
    SELECT {{.Keys}}, {{eventsMerge .Column true}} AS entries
    FROM {{$.DB}}.{{.Table}} /* until {{.Column}} is dropped */
    GROUP BY {{.Keys}}
    HAVING notEmpty(entries)
)
ARRAY JOIN entries AS entry
GROUP BY {{.Keys}};
{{end}}
DROP TABLE IF EXISTS {{.PHIDB}}.referral_facts_light_mv{{.OnCluster}};

DROP TABLE IF EXISTS {{.PHIDB}}.appointment_facts_light_mv{{.OnCluster}};

DROP TABLE IF EXISTS {{.DB}}.v_referrals{{.OnCluster}};

{{template "v_referrals" .}};

ALTER TABLE {{.Local "referral_facts"}}{{.OnCluster}} DROP COLUMN destinations, DROP COLUMN auth_decisions, DROP COLUMN consult_notes;

ALTER TABLE {{.Local "appointment_facts"}}{{.OnCluster}} DROP COLUMN history;
{{- if .Cluster}}

DROP TABLE IF EXISTS {{.DB}}.referral_facts{{.OnCluster}};

DROP TABLE IF EXISTS {{.DB}}.appointment_facts{{.OnCluster}};
{{- end}}

{{template "distributed" .Distributed "referral_facts" "cityHash64(referral_id)"}}

{{template "distributed" .Distributed "appointment_facts" "cityHash64(referral_id)"}}
