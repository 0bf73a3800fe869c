// Package rules generates the Prometheus recording and alerting rules of
// referralops from the metric catalog (metrics.Catalog) and the operating
// targets (metrics.Targets), so a renamed metric or a changed target cannot
// leave a dead rule behind.
//
// Recording rules divide every ratio of the catalog (a family with a
// Denominator) by window and service line and overall by window, guarded
// against empty denominators; they record the per-service-line p90 targets of
// time to appointment as series, and the unscheduled backlog older than 7 days.
// Their names are exported (Ratios, TimeToAppointmentP90Target, ...) for the
// dashboards.
//
// Alerting rules watch access (time to appointment, backlog, no-shows,
// authorization denials), quality (closed loop, leakage, incomplete
// referrals) and the pipeline (stale KPI snapshot, ingest lag, dead letters,
// ingester and exporter down). Each carries severity and category labels and
// a runbook_url into docs/runbooks.md.
//
// The generated file is committed under deploy/prometheus/rules and checked
// by promtool; this package does not talk to Prometheus.
package rules
