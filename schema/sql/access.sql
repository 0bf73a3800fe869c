-- Least-privilege access for a current ClickHouse server (SQL-driven access
-- control, 20.5+). Rendered by `referralops access`; ClickHouse 18.16 has no
-- SQL user management and gets the same users from deploy/local/clickhouse/users.xml.tmpl.
-- Every statement replaces what it names, so running it again converges
-- (and rotates passwords). A user's default roles are all its granted roles.
--
-- Role referralops_reader reads the database, which holds no PHI (the raw
-- events are in {{.PHIDB}}, schema.PHIDatabase, which no reader is granted);
-- role referralops_analysis adds what analysts need; the three users differ in
-- their settings profiles: what they may run, for how long, and how much they
-- get back. The writer may only INSERT into the events (and keep the CMS50 patient order); the migrator owns both
-- databases. The limits and quotas are schema.DefaultLimits, which
-- users.xml.tmpl holds for 18.16 too.
CREATE ROLE IF NOT EXISTS referralops_reader{{.OnCluster}};
GRANT{{.OnCluster}} SELECT ON {{.DB}}.* TO referralops_reader;
-- Analysts may also look up table sizes and columns.
CREATE ROLE IF NOT EXISTS referralops_analysis{{.OnCluster}};
GRANT{{.OnCluster}} referralops_reader TO referralops_analysis;
GRANT{{.OnCluster}} SELECT ON system.parts TO referralops_analysis;
GRANT{{.OnCluster}} SELECT ON system.columns TO referralops_analysis;
-- On a cluster every profile reads with distributed_product_mode = 'local': the
-- KPI SQL joins Distributed tables sharded alike, by referral (docs/scaling.md).
-- exporter: readonly = 1 also forbids changing settings per query.
CREATE SETTINGS PROFILE OR REPLACE referralops_exporter{{.OnCluster}} SETTINGS readonly = 1, max_execution_time = 30, max_memory_usage = 1000000000{{.ClusterSettings}};
-- grafana: dashboards; bounded time and result size.
CREATE SETTINGS PROFILE OR REPLACE referralops_grafana{{.OnCluster}} SETTINGS readonly = 1, max_execution_time = {{.GrafanaMaxExecutionSeconds}}, max_result_rows = {{.GrafanaMaxResultRows}}, result_overflow_mode = 'throw', max_memory_usage = 2000000000{{.ClusterSettings}};
-- analyst: readonly = 2 forbids writes and DDL but lets a query change its
-- settings, within the MAX given here (constraints): no query can take more
-- than that from ingestion.
CREATE SETTINGS PROFILE OR REPLACE referralops_analyst{{.OnCluster}} SETTINGS readonly = 2, max_execution_time = {{.L.AnalystMaxExecutionSeconds}} MAX {{.L.AnalystMaxExecutionSecondsCeiling}}, max_result_rows = 1000000 MAX 100000000, result_overflow_mode = 'throw' CONST, max_memory_usage = {{.L.AnalystMaxMemoryBytes}} MAX {{.L.AnalystMaxMemoryBytes}}, max_rows_to_read = {{.L.AnalystMaxRowsToRead}} MAX {{.L.AnalystMaxRowsToRead}}{{.ClusterSettings}};
-- writer: inserts only; no DDL even where a grant would allow it.
CREATE SETTINGS PROFILE OR REPLACE referralops_writer{{.OnCluster}} SETTINGS allow_ddl = 0 CONST, max_memory_usage = 4000000000;
CREATE USER OR REPLACE referralops_exporter{{.OnCluster}} IDENTIFIED WITH bcrypt_hash BY '{{.ExporterPasswordHash}}' HOST {{.Host}} SETTINGS PROFILE 'referralops_exporter';
CREATE USER OR REPLACE referralops_grafana{{.OnCluster}} IDENTIFIED WITH bcrypt_hash BY '{{.GrafanaPasswordHash}}' HOST {{.Host}} SETTINGS PROFILE 'referralops_grafana';
CREATE USER OR REPLACE referralops_analyst{{.OnCluster}} IDENTIFIED WITH bcrypt_hash BY '{{.AnalystPasswordHash}}' HOST {{.Host}} SETTINGS PROFILE 'referralops_analyst';
GRANT{{.OnCluster}} referralops_reader TO referralops_exporter, referralops_grafana;
GRANT{{.OnCluster}} referralops_analysis TO referralops_analyst;
-- The ingester's user: INSERT into the raw events (and reading which schema
-- versions are applied, checked before it inserts), and the CMS50 patient
-- order it recomputes after each batch (migration 0010: it looks up the
-- batch's patients in {{.PHIDB}}.events, reads patient_referrals there and
-- writes referral_patient_order), nothing else. The
-- materialized views that feed the facts from them run as their definer, the
-- migrator that created them (SQL SECURITY DEFINER, current servers' default),
-- so the writer needs no right on the facts.
CREATE USER OR REPLACE referralops_writer{{.OnCluster}} IDENTIFIED WITH bcrypt_hash BY '{{.WriterPasswordHash}}' HOST {{.Host}} SETTINGS PROFILE 'referralops_writer';
GRANT{{.OnCluster}} INSERT ON {{.PHIDB}}.events TO referralops_writer;
GRANT{{.OnCluster}} SELECT ON {{.DB}}.schema_migrations TO referralops_writer;
GRANT{{.OnCluster}} SELECT(referral_id, event_type, patient_token) ON {{.PHIDB}}.events TO referralops_writer;
GRANT{{.OnCluster}} SELECT ON {{.PHIDB}}.patient_referrals TO referralops_writer;
GRANT{{.OnCluster}} INSERT ON {{.DB}}.referral_patient_order TO referralops_writer;
-- The per-referral KPI state it keeps (migration 0018, schema.PassKPIState):
-- it reads the touched referrals, their creations and facts, and writes their
-- states and the pass.
{{- range .KPIStateReads}}
GRANT{{$.OnCluster}} SELECT ON {{$.DB}}.{{.}} TO referralops_writer;
{{- end}}
{{- range .KPIStateWrites}}
GRANT{{$.OnCluster}} INSERT ON {{$.DB}}.{{.}} TO referralops_writer;
{{- end}}
-- `referralops migrate`: creates and changes both databases.
CREATE USER OR REPLACE referralops_migrator{{.OnCluster}} IDENTIFIED WITH bcrypt_hash BY '{{.MigratorPasswordHash}}' HOST {{.Host}};
GRANT{{.OnCluster}} ALL ON {{.DB}}.* TO referralops_migrator;
GRANT{{.OnCluster}} ALL ON {{.PHIDB}}.* TO referralops_migrator;
{{- if .Cluster}}
GRANT{{.OnCluster}} CLUSTER ON *.* TO referralops_migrator;
{{- end}}
-- Quotas: per hour, so a runaway dashboard, exporter loop or analysis stops
-- before it takes the server from ingestion.
CREATE QUOTA OR REPLACE referralops_readers{{.OnCluster}} FOR INTERVAL 1 hour MAX queries = {{.L.ReaderQueriesPerHour}}, errors = {{.L.ReaderErrorsPerHour}}, result_rows = {{.L.ReaderResultRowsPerHour}}, read_rows = {{.L.ReaderReadRowsPerHour}}, execution_time = {{.L.ReaderExecutionSecondsPerHour}} TO referralops_exporter, referralops_grafana;
CREATE QUOTA OR REPLACE referralops_analysts{{.OnCluster}} FOR INTERVAL 1 hour MAX queries = {{.L.AnalystQueriesPerHour}}, errors = {{.L.AnalystErrorsPerHour}}, result_rows = {{.L.AnalystResultRowsPerHour}}, read_rows = {{.L.AnalystReadRowsPerHour}}, execution_time = {{.L.AnalystExecutionSecondsPerHour}} TO referralops_analyst;
{{- if .Scoped}}
-- Site scope (below) needs the views to read the tables as the migrator (SQL
-- SECURITY DEFINER): a scoped user gets no rows of the tables themselves.
{{- range .Relations}}{{if .View}}
ALTER TABLE {{$.DB}}.{{.Name}}{{$.OnCluster}} MODIFY SQL SECURITY DEFINER DEFINER = referralops_migrator;
{{- end}}{{end}}
-- Once a table has a row policy, ClickHouse shows its rows only through
-- policies: every other user keeps every row.
{{- range .Relations}}
CREATE ROW POLICY OR REPLACE referralops_unscoped{{$.OnCluster}} ON {{$.DB}}.{{.Name}} FOR SELECT USING 1 TO ALL EXCEPT {{$.ScopedUsers}};
{{- end}}
{{- end}}
{{- range $s := .Scoped}}
-- Site scope of {{$s.User}}: the rows of its locations only; relations
-- without a location column (aggregate states, per-referrer rollups,
-- bookkeeping) give it no rows at all.
{{- range $.Relations}}
CREATE ROW POLICY OR REPLACE {{$s.User}}_sites{{$.OnCluster}} ON {{$.DB}}.{{.Name}} FOR SELECT USING {{if .Located}}location_id IN ({{$s.Locations}}){{else}}0{{end}} TO {{$s.User}};
{{- end}}
{{- end}}
