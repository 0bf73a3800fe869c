// Package dashboards generates the Grafana dashboards of referralops as code,
// with the Grafana Foundation SDK, and the Grafana provisioning that goes with
// them (the Prometheus and ClickHouse datasources under fixed uids, and a
// dashboards provider).
//
// Every Prometheus metric a panel reads is a value of metrics.Catalog or of
// the ingester's declaration in metrics/selfmetrics (never a string), so a
// renamed or removed metric does not compile instead of leaving a dead panel;
// the package does not import ingest. Ratios are divided inline with
// metrics.RatioExpr, the division the recording rules use, from the catalog's
// numerator and denominator; a ratio's thresholds, and the sentence that
// states them, come from its catalog target (metrics.Targets, on the side the
// target says is bad), and a ratio panel or target mark on a family without
// one makes Build fail. ClickHouse panels
// read the analyst views (schema/migrations/0005, 0006) with SQL that runs
// on ClickHouse 18.16 and on current releases, through the
// grafana-clickhouse-datasource plugin, whose query model this package declares
// because the SDK has none.
//
// For tests that run the panels' queries against real servers, Queries lists
// every panel query, Substitute replaces the dashboard variables as Grafana
// does, and ExpandMacros expands the ClickHouse plugin's macros for a fixed
// time range.
//
// The package does not talk to Grafana; `referralops dashboards` writes the
// files that Grafana's file provisioning loads.
package dashboards
