// Package rules generates the Prometheus recording and alerting rules of
// referralops from the metric catalog (metrics.Catalog) and the operating
// targets (metrics.Targets), so a renamed metric or a changed target cannot
// leave a dead rule behind.
//
// Recording rules divide every ratio of the catalog (a family with a Ratio)
// by window and service line and overall by window (the source ratio also by
// source) with metrics.RatioExpr, guarded against empty denominators, under
// names made of the catalog's ratio name; they record the per-service-line p90
// targets of time to appointment as series, the unscheduled backlog older than
// 7 days, and the ingester's lag per topic. The recorded names are exported
// (Ratios, TimeToAppointmentP90Target, ...).
//
// Alerting rules watch access (time to appointment, backlog), the ratios
// whose catalog entry declares an alert (no-shows and authorization denials,
// closed loop, leakage and incomplete referrals: name, category, target and
// the side of it that is bad all come from the catalog) and the pipeline
// (stale KPI snapshot, ingest lag, dead letters, ingester and exporter down),
// naming the ingester's metrics from metrics/selfmetrics. Each carries
// severity and category labels and a runbook_url into docs/runbooks.md.
//
// The generated file is committed under deploy/prometheus/rules and checked
// by promtool; this package does not talk to Prometheus.
package rules
