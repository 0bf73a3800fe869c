{{- /* Templates of the replicated variant of the schema (cluster.go), parsed
with every migration. Nothing here is a statement of its own.

distributed: on a cluster, the Distributed table .Table over .Local, the table
that stores each shard's rows: it takes its columns from .Local (AS), so the
columns are defined once, and it routes an INSERT's rows to shards by
.ShardingKey. On a single node it renders nothing. */ -}}
{{define "distributed" -}}
{{- if .Cluster -}}
CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Table}} ON CLUSTER {{.Cluster}} AS {{.DB}}.{{.Local}}
ENGINE = Distributed({{.Cluster}}, {{.DB}}, {{.Local}}, {{.ShardingKey}});
{{- end}}
{{- end}}
