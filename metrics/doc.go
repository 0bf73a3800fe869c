// Package metrics serves the KPIs of KPIS.md to Prometheus: the metric catalog
// (every family's name, help, type, unit and labels, and the kpi field it
// carries), the operating targets, the Collector that turns a kpi.Snapshot
// into const metrics, and the Exporter behind `referralops export` that
// refreshes snapshots on its own schedule.
//
// The catalog is the one definition of everything a panel or rule names. Each
// family is a typed value (metrics.LoopClosedReferrals) that the Collector,
// the README's metrics reference, the dashboards (package dashboards) and the
// recording and alerting rules (dashboards/rules) refer to, so a renamed
// metric is a compile error, not a dead panel. A ratio KPI is declared on its
// numerator: its ratio name, denominator, operating target (a RateTarget of
// Targets, which says whether below or above it is bad) and alert. From that
// entry follow its recording rules, its alert, its README row and the
// thresholds of every panel that shows it; RatioExpr is the one division the
// rules and panels share. Adding a ratio KPI is its SQL and kpi field, its
// catalog entry and its panel placement. The ingester's own metrics are
// declared the same way in metrics/selfmetrics.
//
// Scrapes never query ClickHouse. The Exporter evaluates a snapshot every
// --refresh-interval with a timeout, builds and gathers its const metrics
// once, and swaps them in atomically; a scrape only encodes the last good set. A failed refresh
// keeps the previous set (stale but consistent) and says so in
// referralops_kpi_refresh_errors_total and a
// referralops_kpi_last_success_timestamp_seconds that stops advancing.
// Readiness means "has a snapshot": the exporter stays ready through a
// ClickHouse outage, because stale numbers with a staleness signal beat a
// target that disappears.
//
// Counts are gauges of a window's cohort, not counters: they are exported as
// numerator and denominator so sums over labels stay right and PromQL divides.
// The time-to-X histograms are snapshots of a window too, so they are used
// without rate(): histogram_quantile(0.9, sum by (le) (referral_time_to_appointment_seconds_bucket)).
//
// Labels are bounded: window, service line, location (an allow-list or the top
// N by volume, the rest summed as "other"), referrer type and network, age
// bucket, referrer state and attention level; never an id. Each family is capped at
// --max-series-per-family series; series beyond it are dropped and counted.
//
// It does not compute KPIs (metrics/kpi does) or serve HTTP
// (internal/httpserver does).
package metrics
