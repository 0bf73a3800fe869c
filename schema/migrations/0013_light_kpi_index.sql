-- Lighter kpi_index view (issue 13): the same rows (sql/fact_selects.sql,
-- kpi_index_light_select), made from each event's kinds, an array of
-- constants, and the columns each kind takes, instead of from an array of
-- tuples that copied the event's strings into each: 0.4-0.7 s less of
-- ClickHouse's 8.5-9 CPU s per million events ingested (an ingester over a
-- backlog of 1 M events, on 18.16).
--
-- The new view writes from every insert on before the old one goes, so no
-- event misses its rows. Meanwhile both write each row: kpi_index's sorting
-- key is the whole row, so ReplacingMergeTree collapses the copies, and the
-- KPI queries take a referral twice as once (metrics/kpi/sql/common.sql).
CREATE MATERIALIZED VIEW IF NOT EXISTS {{.PHIDB}}.kpi_index_light_mv{{.OnCluster}} TO {{.Local "kpi_index"}} AS
{{- template "kpi_index_light_select" .WithEventsInPHI.OnShard}};

DROP TABLE IF EXISTS {{.PHIDB}}.kpi_index_mv{{.OnCluster}};
