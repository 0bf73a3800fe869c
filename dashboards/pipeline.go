package dashboards

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/metrics/selfmetrics"
)

// pipeline is for whoever runs the pipeline: is data flowing from Kafka into
// ClickHouse, and are the KPIs being refreshed.
func (g *generator) pipeline() *dashboard.DashboardBuilder {
	ingest := func(m selfmetrics.Metric) (name, help string) { return m.Name, m.Help }
	records, recordsHelp := ingest(selfmetrics.IngestRecords)
	deadLetters, deadLettersHelp := ingest(selfmetrics.IngestDeadLetters)
	lag, lagHelp := ingest(selfmetrics.IngestConsumerLag)
	flush, flushHelp := ingest(selfmetrics.IngestFlushSeconds)
	batch, batchHelp := ingest(selfmetrics.IngestBatchRows)
	chErrors, chErrorsHelp := ingest(selfmetrics.IngestClickHouseErrors)
	dlErrors, dlErrorsHelp := ingest(selfmetrics.IngestDeadLetterErrors)
	commitErrors, commitErrorsHelp := ingest(selfmetrics.IngestCommitErrors)
	fetchErrors, fetchErrorsHelp := ingest(selfmetrics.IngestFetchErrors)
	lastCommit, lastCommitHelp := ingest(selfmetrics.IngestLastCommit)
	assigned, assignedHelp := ingest(selfmetrics.IngestAssignedPartitions)
	generations, generationsHelp := ingest(selfmetrics.IngestGenerations)
	rate := func(series string) string { return "rate(" + series + "[$__rate_interval])" }
	quantiles := func(bucket string) []cog.Builder[variants.Dataquery] {
		var qs []cog.Builder[variants.Dataquery]
		for i, p := range []float64{0.5, 0.9, 0.99} {
			qs = append(qs, promQuery(string(rune('A'+i)), "histogram_quantile("+num(p)+", "+metrics.SumBy([]string{"le"}, rate(bucket))+")", "p"+num(p*100), false))
		}
		return qs
	}
	staleAfter := metrics.StaleAfterRefreshes * metrics.DefaultRefreshInterval.Seconds()

	b := g.board(uidPipeline, "Referral operations: pipeline health",
		"Kafka → ingest → ClickHouse → KPI exporter: throughput, lag, dead letters, latency and errors of the ingesters, and the freshness of the KPI snapshot.",
		"now-6h", "30s", prometheusVar())

	b.WithRow(g.row("Ingest"))
	b.WithPanel(stacked(g.timeSeriesPanel(spec{title: "Records settled per second", unit: unitPerSec, w: 12, h: 8,
		desc: "Kafka records settled per second by topic and outcome (stored in ClickHouse or dead-lettered), summed over the ingesters; counted once their batch is stored and committed. " + records + ": " + recordsHelp},
		promDS, promQuery("A", metrics.SumBy([]string{selfmetrics.LabelTopic, selfmetrics.LabelOutcome}, rate(records)), "{{topic}} {{outcome}}", false))))
	b.WithPanel(g.timeSeriesPanel(spec{title: "Consumer lag by topic", unit: unitCount, w: 12, h: 8,
		desc: "Records not yet committed by the consumer group, per topic, summed over the ingesters' partitions: end offset minus committed offset. " + lag + ": " + lagHelp},
		promDS, promQuery("A", metrics.SumBy([]string{selfmetrics.LabelTopic}, lag), "{{topic}}", false)))
	b.WithPanel(stacked(g.timeSeriesPanel(spec{title: "Dead letters per second by reason", unit: unitPerSec, w: 12, h: 8,
		desc: "Invalid records written to the dead-letter topic per second, by reason (not_json, not_cloudevent, missing_field, unknown_type, invalid_field, bad_time, future_time, too_large). " + deadLetters + ": " + deadLettersHelp},
		promDS, promQuery("A", metrics.SumBy([]string{selfmetrics.LabelReason}, rate(deadLetters)), "{{reason}}", false))))
	b.WithPanel(g.timeSeriesPanel(spec{title: "Flush latency", unit: unitSeconds, w: 12, h: 8,
		desc: "p50, p90 and p99 time to settle a batch over the ingesters, from the histogram's rate: ClickHouse insert, dead-letter write and offset commit, retries included. " + flush + ": " + flushHelp},
		promDS, quantiles(flush+"_bucket")...))
	b.WithPanel(g.timeSeriesPanel(spec{title: "Errors per second", unit: unitPerSec, w: 12, h: 8,
		desc: fmt.Sprintf("Failures per second over the ingesters, each retry counted. ClickHouse: %s. Dead-letter writes: %s. Offset commits: %s. Kafka fetches (by topic): %s", chErrorsHelp, dlErrorsHelp, commitErrorsHelp, fetchErrorsHelp)},
		promDS,
		promQuery("A", metrics.SumBy(nil, rate(chErrors)), "ClickHouse inserts and pings", false),
		promQuery("B", metrics.SumBy(nil, rate(dlErrors)), "dead-letter writes", false),
		promQuery("C", metrics.SumBy(nil, rate(commitErrors)), "offset commits", false),
		promQuery("D", metrics.SumBy([]string{selfmetrics.LabelTopic}, rate(fetchErrors)), "fetches {{topic}}", false)))
	b.WithPanel(g.timeSeriesPanel(spec{title: "Batch size", unit: unitCount, w: 12, h: 8,
		desc: "p50, p90 and p99 records per settled batch over the ingesters, from the histogram's rate (small batches mean many small ClickHouse parts). " + batch + ": " + batchHelp},
		promDS, quantiles(batch+"_bucket")...))
	b.WithPanel(g.statPanel(spec{title: "Consumer lag", unit: unitCount, w: 6, h: 4,
		desc: "Records not yet committed, all topics and ingesters. " + lag + ": " + lagHelp},
		promDS, promQuery("A", metrics.SumBy(nil, lag), "", true)))
	b.WithPanel(g.statPanel(spec{title: "Time since last offset commit", unit: unitSeconds, w: 6, h: 4,
		desc: "Seconds since the most recent successful offset commit of any ingester (grows while nothing is stored, also when there is nothing to consume). " + lastCommit + ": " + lastCommitHelp},
		promDS, promQuery("A", "time() - max("+lastCommit+")", "", true)))
	b.WithPanel(g.statPanel(spec{title: "Assigned partitions", unit: unitCount, w: 6, h: 4,
		desc: "Partitions assigned to the ingesters in their current generation, summed (every partition of the input topics when the group is healthy). " + assigned + ": " + assignedHelp},
		promDS, promQuery("A", metrics.SumBy(nil, assigned), "", true)))
	b.WithPanel(g.statPanel(spec{title: "Rebalances in the last hour", unit: unitCount, w: 6, h: 4,
		desc: "Consumer group generations joined in the last hour, summed over the ingesters. " + generations + ": " + generationsHelp},
		promDS, promQuery("A", metrics.SumBy(nil, "increase("+generations+"[1h])"), "", true)))

	b.WithRow(g.row("KPI exporter"))
	lastSuccess := g.sel(metrics.KPILastSuccessTimestampSeconds).String()
	asOf := g.sel(metrics.KPISnapshotAsOfTimestampSeconds).String()
	b.WithPanel(g.statPanel(spec{title: "KPI snapshot age", unit: unitSeconds, w: 6, h: 4, th: above(staleAfter),
		desc: fmt.Sprintf("Seconds since the last successful KPI refresh (time() − the newest last-success time over the exporters); red after %d default refresh intervals (%s s). %s", metrics.StaleAfterRefreshes, num(staleAfter), g.help(metrics.KPILastSuccessTimestampSeconds))},
		promDS, promQuery("A", "time() - max("+lastSuccess+")", "", true)))
	b.WithPanel(g.statPanel(spec{title: "KPI evaluation time lag", unit: unitSeconds, w: 6, h: 4,
		desc: "Seconds between now and the evaluation time T of the snapshot being served (large when the exporter runs with a fixed --as-of). " + g.help(metrics.KPISnapshotAsOfTimestampSeconds)},
		promDS, promQuery("A", "time() - max("+asOf+")", "", true)))
	b.WithPanel(g.statPanel(spec{title: "KPI refresh errors in the last hour", unit: unitCount, w: 6, h: 4, th: above(1),
		desc: "Failed KPI refreshes in the last hour, summed over the exporters. " + g.help(metrics.KPIRefreshErrorsTotal)},
		promDS, promQuery("A", metrics.SumBy(nil, "increase("+g.sel(metrics.KPIRefreshErrorsTotal).String()+"[1h])"), "", true)))
	b.WithPanel(g.statPanel(spec{title: "KPI series dropped in the last hour", unit: unitCount, w: 6, h: 4, th: above(1),
		desc: "KPI series left out in the last hour because a family exceeded --max-series-per-family, summed over families and exporters. " + g.help(metrics.KPISeriesDroppedTotal)},
		promDS, promQuery("A", metrics.SumBy(nil, "increase("+g.sel(metrics.KPISeriesDroppedTotal).String()+"[1h])"), "", true)))
	b.WithPanel(g.timeSeriesPanel(spec{title: "KPI refresh duration", unit: unitSeconds, w: 12, h: 8,
		desc: "p50, p90 and p99 duration of KPI refreshes, failed ones included, from the histogram's rate. " + g.help(metrics.KPIRefreshDurationSeconds)},
		promDS, quantiles(g.sel(metrics.KPIRefreshDurationSeconds).String())...))
	b.WithPanel(g.timeSeriesPanel(spec{title: "KPI refresh errors per second", unit: unitPerSec, w: 12, h: 8,
		desc: "Failed KPI refreshes per second, summed over the exporters; the previous snapshot keeps being served. " + g.help(metrics.KPIRefreshErrorsTotal)},
		promDS, promQuery("A", metrics.SumBy(nil, rate(g.sel(metrics.KPIRefreshErrorsTotal).String())), "refresh errors", false)))
	b.WithPanel(g.timeSeriesPanel(spec{title: "KPI series by family", unit: unitCount, w: 12, h: 8,
		desc: "Series served per KPI family from the current snapshot (max over the exporters). " + g.help(metrics.KPISeries)},
		promDS, promQuery("A", "max by (family) ("+g.sel(metrics.KPISeries).String()+")", "{{family}}", false)))
	b.WithPanel(g.timeSeriesPanel(spec{title: "KPI series dropped per second by family", unit: unitPerSec, w: 12, h: 8,
		desc: "KPI series dropped per second per family because the family exceeded --max-series-per-family (raise it, or narrow --locations). " + g.help(metrics.KPISeriesDroppedTotal)},
		promDS, promQuery("A", metrics.SumBy([]string{"family"}, rate(g.sel(metrics.KPISeriesDroppedTotal).String())), "{{family}}", false)))
	return b
}
