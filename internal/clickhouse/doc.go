// Package clickhouse owns referralops' ClickHouse plumbing: the connection
// settings (Config, Open), the engine's Dialect, the schema as embedded,
// templated migrations (Migrate), and ReferralFacts, the reference query of
// KPIS.md's per-referral facts as of any time T.
//
// The schema is `events` (raw, deduplicated by event id) feeding, through
// materialized views, `referral_facts` and `appointment_facts`: aggregate
// states that are idempotent, so duplicate deliveries change nothing and every
// fact can be evaluated exactly as of a past T. See the migrations/*.sql files.
//
// The same migrations and queries run on a ClickHouse server over the native
// protocol (Native) and on chDB, the engine as a library (ChDB, package
// internal/clickhouse/chdb): tests prove them on the 18.16 server Debian ships
// and on current ClickHouse. Version-specific DDL (LowCardinality, TTL) is
// switched on the Dialect.
//
// It does not hold KPI SQL (package metrics/kpi) nor insert events (ingest).
package clickhouse
