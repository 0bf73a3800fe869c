// Package schema is referralops' ClickHouse schema and what it means: the
// embedded, templated migrations (Migrate, Script), the per-referral facts
// of KPIS.md as of any time T (ReferralFacts, sql/referral_facts_asof.sql),
// the KPI index the KPI SQL reads, the analyst views, the users, their grants,
// limits and site scopes (AccessStatements) and the replicated variant for a
// cluster (cluster.go).
//
// Data flows one way: `events` (raw, deduplicated by event id), in its own
// database PHIDatabase(db) since migrations/0009 so that the database the
// read-only users read holds no PHI, feeds, through materialized views,
// `referral_facts`, `referral_stages` (the stage facts referral_facts lacks,
// migrations/0008) and `appointment_facts`, whose
// aggregate states are idempotent (min, argMin, sets of event tuples; never
// count or sum), so a duplicate delivery, a replay or a backfill changes
// nothing and every fact can be evaluated exactly as of a past T. The same
// views feed `kpi_index`, `kpi_referrers` and `kpi_created`, the lookups that
// let the KPI queries (package metrics/kpi) read only what a window needs
// (migrations/0004). The analyst views (v_referrals and those built on it,
// migrations/0005 and 0006; v_referrals remade with the stage facts in 0011)
// evaluate the facts as of now for people and Grafana's panels; v_loops
// holds the closed-loop rule as columns.
// The CMS50-style loop is patient-based, but readers never see a patient:
// the writer keeps `referral_patient_order` (each referral's same-patient
// predecessor's created_at) current from the PHI table `patient_referrals`
// after every batch (RefreshPatientOrder, migrations/0010).
//
// The storage contract shared with the KPI SQL and the panels is named once,
// in contract.go: the kpi_index kinds (IndexKind), the appointment status
// ranks (StatusRank), the closed-loop time (LoopClosedWithin) and the stage
// facts of KPIS.md version 2 (stages.go: decided_at, auth_decided_at,
// info_received_at, leak_reason, and the views' business-day calendar),
// rendered by name into every SQL template that uses them (Funcs). The closed-loop rule
// itself is written once in SQL, sql/analyst_views.sql, for the views; so is
// KPIS.md's referrer attention, sql/referrer_attention.sql, which the view
// v_referrer_attention (migrations/0007) renders as of now and package
// metrics/kpi as of any T (ReferrerAttentionSQL).
//
// The migrations run unchanged on the ClickHouse 18.16 server Debian ships and
// on current releases; version-specific DDL (LowCardinality, TTL) switches on
// the clickhouse.Dialect. Connections and executors are package
// internal/clickhouse's plumbing. The schema does not hold KPI SQL (package
// metrics/kpi) nor insert events (package ingest).
package schema
