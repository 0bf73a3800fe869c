// Package dashboards generates the Grafana dashboards of referralops as code,
// with the Grafana Foundation SDK, and the Grafana provisioning that goes with
// them (the Prometheus and ClickHouse datasources under fixed uids, and a
// dashboards provider).
//
// Every Prometheus metric a panel reads is looked up by name in metrics.Catalog
// or among the ingester's own metrics (as package ingest registers them), so a
// renamed or removed metric makes Build fail instead of leaving a dead panel.
// Ratios are divided inline from the catalog's numerator and denominator
// families; thresholds are coloured against metrics.Targets. ClickHouse panels
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
