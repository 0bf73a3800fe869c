-- Least-privilege access for a current ClickHouse server (SQL-driven access
-- control, 20.5+). Rendered by `referralops access`; ClickHouse 18.16 has no
-- SQL user management and gets the same users from deploy/local/clickhouse/users.xml.tmpl.
-- Every statement replaces what it names, so running it again converges
-- (and rotates passwords). A user's default roles are all its granted roles.
--
-- Role referralops_reader reads the database, role referralops_analysis adds
-- what analysts need; the three users differ in their
-- settings profiles: what they may run, for how long, and how much they get back.
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
-- analyst: readonly = 2 forbids writes and DDL but lets a query raise its own
-- limits up to the MAX given here.
CREATE SETTINGS PROFILE OR REPLACE referralops_analyst{{.OnCluster}} SETTINGS readonly = 2, max_execution_time = 300 MAX 3600, max_result_rows = 1000000 MAX 100000000, result_overflow_mode = 'throw', max_memory_usage = 4000000000{{.ClusterSettings}};
CREATE USER OR REPLACE referralops_exporter{{.OnCluster}} IDENTIFIED WITH bcrypt_hash BY '{{.ExporterPasswordHash}}' HOST {{.Host}} SETTINGS PROFILE 'referralops_exporter';
CREATE USER OR REPLACE referralops_grafana{{.OnCluster}} IDENTIFIED WITH bcrypt_hash BY '{{.GrafanaPasswordHash}}' HOST {{.Host}} SETTINGS PROFILE 'referralops_grafana';
CREATE USER OR REPLACE referralops_analyst{{.OnCluster}} IDENTIFIED WITH bcrypt_hash BY '{{.AnalystPasswordHash}}' HOST {{.Host}} SETTINGS PROFILE 'referralops_analyst';
GRANT{{.OnCluster}} referralops_reader TO referralops_exporter, referralops_grafana;
GRANT{{.OnCluster}} referralops_analysis TO referralops_analyst;
