package metrics

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"text/template"

	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/metrics/kpi"
)

// The README's KPI metrics section, between its kpi-metrics markers, is
// generated from the catalog and the exporter's flags so that it cannot drift
// from what is served (`make generate` rewrites it, package generated's test
// checks it, TestREADME checks that it lists what is served).
var referenceTemplate = template.Must(template.New("reference").Parse(`<!-- Generated from metrics.Catalog by ` + "`make generate`" + `: edit metrics/catalog.go or metrics/reference.go, not this region. -->

Every ` + "`--refresh-interval`" + ` the exporter evaluates the KPIs as of that time in ClickHouse
(with ` + "`--kpi-timeout`" + `) and builds the metrics once; scrapes serve the last good snapshot and
never query ClickHouse. The referrer KPIs (` + "`referral_referrers`, `referral_attention_referrers`" + `: 90- and
365-day lookbacks, in days) cost as much to read as the rest together and are evaluated every
` + "`--referrer-refresh-interval`" + ` (by default 10 refresh intervals: 5 minutes); the snapshots between
serve the last ones. Give it the read-only user: locally
` + "`--clickhouse-dsn clickhouse://referralops_exporter:exporter-dev@127.0.0.1:9000/referralops`" + `
(the password is ` + "`CLICKHOUSE_EXPORTER_PASSWORD`" + ` of ` + "`deploy/local/clickhouse.sh`" + `; put a real one in
` + "`REFERRALOPS_CLICKHOUSE_DSN`" + `, not on the command line).

| flag | default | meaning |
|---|---|---|
{{- range .Flags}}
| ` + "`--{{.Name}}`" + ` | {{.Default}} | {{.Usage}} |
{{- end}}

In the YAML file: ` + "`kpi: {windows: [30d, 90d], timeout: 2m}`" + ` and
` + "`export: {listen: \":9464\", refresh_interval: 30s, locations: [site-01, site-02], locations_top: 10, max_series_per_family: 2000}`" + `.

- **Ratios** are served as numerator and denominator (the table's "ratio: divide by" column), so they
  stay right when summed over labels; divide in PromQL after summing, e.g. scheduled conversion
  per service line: ` + "`sum by (service_line) (referral_scheduled_referrals{window=\"30d\"}) / sum by (service_line) (referral_referrals{window=\"30d\"})`" + `.
- **Windows.** Counts are gauges of the window's cohort as of T (KPIS.md), not counters. The
  time-to-X histograms are snapshots of the window too: use them without ` + "`rate()`" + `, e.g.
  ` + "`histogram_quantile(0.9, sum by (le) (referral_time_to_appointment_seconds_bucket{window=\"30d\"}))`" + `
  (interpolated within buckets of 1 to 180 days). The ` + "`*_quantile_seconds`" + ` summaries carry the exact
  nearest-rank p50 and p90 per service line (and priority, for triage and appointment); they cannot be aggregated.
- **Series.** A site of 12 service lines and 20 locations costs about 5,350 series with the defaults
  (` + "`TestSeriesBudget`" + `; ` + "`BenchmarkScrape`" + ` prints the count). To keep it so, the stage, priority and payer
  families never carry the location; the authorization and information turnaround histograms have the
  window only (their per-line view is the exact quantiles), leakage by payer class and by reason is over
  every service line, and only the exact quantiles and the triage SLA counts pair priority with service line;
  the CMS50-style pair keeps the location, like the 14-day closed-loop pair it sits beside.
- **Labels** are bounded and never ids: ` + "`location`" + ` is the ` + "`--locations`" + ` allow-list or the top
  ` + "`--locations-top`" + ` by referrals in the largest window, every other location summed as ` + "`{{.Other}}`" + `
  (so sums over locations equal the totals). Each KPI family is capped at
  ` + "`--max-series-per-family`" + ` series; the rest are dropped and counted in
  ` + "`referralops_kpi_series_dropped_total{family}`" + `.
- **Staleness.** A failed refresh keeps the previous snapshot and adds to
  ` + "`referralops_kpi_refresh_errors_total`" + `; ` + "`referralops_kpi_last_success_timestamp_seconds`" + ` stops advancing.
  Alert on ` + "`time() - referralops_kpi_last_success_timestamp_seconds > 5 * 30`" + ` (five default intervals).
- **Readiness.** ` + "`/healthz`" + ` is 200 while the process lives. ` + "`/readyz`" + ` is 503 until the first snapshot
  is served (the KPI families are absent until then), then 200, also while ClickHouse is down:
  stale numbers with a staleness signal beat a target that disappears. It is 503 again while
  shutting down (SIGTERM: a refresh in flight gets 10 s to finish, then ClickHouse and HTTP close).

| metric | type | unit | KPI field | ratio: divide by | meaning |
|---|---|---|---|---|---|
{{- range .Families}}
| ` + "`{{.Name}}{{.LabelList}}`" + ` | {{.Type}} | {{.Unit}} | {{.KPIField}} | {{.Ratio}} | {{.Help}} |
{{- end}}
`))

type referenceFamily struct {
	Family
	LabelList, KPIField, Ratio string
}

type referenceFlag struct{ Name, Default, Usage string }

// WriteReference writes the README's KPI metrics section: the exporter's
// flags, how to read the metrics, and the catalog as a table.
func WriteReference(w io.Writer) error {
	data := struct {
		Flags    []referenceFlag
		Families []referenceFamily
		Other    string
	}{Flags: exporterFlags(), Other: OtherLocation}
	for _, f := range Catalog {
		rf := referenceFamily{Family: f, KPIField: "", Ratio: ""}
		if len(f.Labels) > 0 {
			rf.LabelList = "{" + strings.Join(f.Labels, ",") + "}"
		}
		if f.KPI != "" {
			rf.KPIField = "`" + strings.ReplaceAll(f.KPI, ", ", "`, `") + "`"
		}
		if f.Ratio != nil {
			rf.Ratio = "`" + f.Ratio.Denominator.Name + "`"
		}
		data.Families = append(data.Families, rf)
	}
	return referenceTemplate.Execute(w, data)
}

// exporterFlags are the flags of `referralops export` that are not common to
// every command, as the exporter's configs register them.
func exporterFlags() []referenceFlag {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	ch := clickhouse.DefaultConfig()
	ch.RegisterFlags("", fs)
	kc := kpi.DefaultConfig()
	kc.RegisterFlags("", fs)
	ec := DefaultConfig()
	ec.RegisterFlags("", fs)
	var out []referenceFlag
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "clickhouse-retention-days" { // migrations only
			return
		}
		def := "none"
		if f.DefValue != "" {
			def = fmt.Sprintf("`%s`", f.DefValue)
		}
		out = append(out, referenceFlag{Name: f.Name, Default: def, Usage: strings.ReplaceAll(f.Usage, "|", `\|`)})
	})
	return out
}
