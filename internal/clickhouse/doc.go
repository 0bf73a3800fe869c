// Package clickhouse is referralops' ClickHouse plumbing: the connection
// settings (Config, Open), what the connected engine supports (Dialect,
// derived from its version), and the Executor that runs SQL on a server over
// the native protocol (Native) or on chDB, the engine as a library (ChDB,
// package internal/clickhouse/chdb), so one set of queries is proved on both.
//
// It knows no table: the schema, its migrations and the per-referral facts
// are package schema; the KPI SQL is package metrics/kpi.
package clickhouse
