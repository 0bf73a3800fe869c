-- The PHI split: the raw `events` (patient_token, the reasons, every field as
-- received) move into their own database, PHIDB (schema.PHIDatabase: the
-- database's name + `_phi`), with the materialized views that read them, so the
-- database itself holds only PHI-free relations: the facts, the KPI lookups and
-- the analyst views, which is all the read-only users may read. ClickHouse
-- 18.16 can only allow whole databases to a user, and checks a view's
-- underlying tables against them too, so the split has to be physical. The
-- facts keep every row: nothing is copied, the table is renamed.
--
-- Order: move the table, then create the new views reading it, then drop the
-- old ones. A view that fired twice for one insert would change no fact (the
-- states are idempotent), but an insert into the moved table before its views
-- exist would be missed: run `referralops migrate` before starting ingesters of
-- this release (the old ones fail to insert into the old name and retry
-- without committing).
--
-- RENAME and DROP COLUMN have no IF [NOT] EXISTS on 18.16; Migrate skips
-- either when its effect is already there (a re-run after a crash).
CREATE DATABASE IF NOT EXISTS {{.PHIDB}}{{.OnCluster}};

{{- if .Cluster}}
-- On a cluster the Distributed `events` goes and is made again over the moved
-- events_local, whose Keeper path stays the one it was created with.
DROP TABLE IF EXISTS {{.DB}}.events{{.OnCluster}};
{{- end}}

RENAME TABLE {{.Local "events"}} TO {{.PHI.Local "events"}}{{.OnCluster}};

{{template "distributed" .PHI.Distributed "events" "cityHash64(referral_id)"}}

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.PHIDB}}.referral_facts_mv{{.OnCluster}} TO {{.Local "referral_facts"}} AS
{{- template "referral_facts_select_argmin" .WithEventsInPHI.OnShard}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.PHIDB}}.appointment_facts_mv{{.OnCluster}} TO {{.Local "appointment_facts"}} AS
{{- template "appointment_facts_select" .WithEventsInPHI.WithSetStates.OnShard}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.PHIDB}}.kpi_index_mv{{.OnCluster}} TO {{.Local "kpi_index"}} AS
{{- template "kpi_index_select" .WithEventsInPHI.OnShard}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.PHIDB}}.kpi_referrers_mv{{.OnCluster}} TO {{.Local "kpi_referrers"}} AS
{{- template "kpi_referrers_select" .WithEventsInPHI.OnShard}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.PHIDB}}.kpi_created_mv{{.OnCluster}} TO {{.Local "kpi_created"}} AS
{{- template "kpi_created_select" .WithEventsInPHI.OnShard}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.PHIDB}}.referral_stages_mv{{.OnCluster}} TO {{.Local "referral_stages"}} AS
{{- template "referral_stages_select" .WithEventsInPHI.OnShard}};

DROP TABLE IF EXISTS {{.DB}}.referral_facts_mv{{.OnCluster}};
DROP TABLE IF EXISTS {{.DB}}.appointment_facts_mv{{.OnCluster}};
DROP TABLE IF EXISTS {{.DB}}.kpi_index_mv{{.OnCluster}};
DROP TABLE IF EXISTS {{.DB}}.kpi_referrers_mv{{.OnCluster}};
DROP TABLE IF EXISTS {{.DB}}.kpi_created_mv{{.OnCluster}};
DROP TABLE IF EXISTS {{.DB}}.referral_stages_mv{{.OnCluster}};

-- referral_facts kept each referral's patient_token (read by no KPI, view or
-- panel); readers may read referral_facts, so the column goes.
ALTER TABLE {{.Local "referral_facts"}}{{.OnCluster}} DROP COLUMN dim_patient_token;
{{- if .Cluster}}
-- The Distributed referral_facts takes its columns anew from referral_facts_local
-- (18.16 refuses ALTER ... ON CLUSTER of a table that is not replicated).
DROP TABLE IF EXISTS {{.DB}}.referral_facts{{.OnCluster}};
{{- end}}

{{template "distributed" .Distributed "referral_facts" "cityHash64(referral_id)"}}
