package demo

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/term"

	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/metrics/kpi"
	"github.com/referralops/referralops/metrics/selfmetrics"
	"github.com/referralops/referralops/schema"
)

// printWhere tells where everything is.
func printWhere(out io.Writer, c *Config, kc broker.Config, ingestURL, exportURL string) {
	db := c.ClickHouse.Database()
	chOpts, _ := c.ClickHouse.Options() // validated
	host, port := "127.0.0.1", "9000"
	if len(chOpts.Addr) > 0 {
		if i := strings.LastIndex(chOpts.Addr[0], ":"); i > 0 {
			host, port = chOpts.Addr[0][:i], chOpts.Addr[0][i+1:]
		}
	}
	addr := kc.Brokers.String()
	kafkaWhat := "Kafka " + addr
	if c.embedded {
		kafkaWhat = fmt.Sprintf("embedded Kafka broker at %s (in memory; %d partitions per topic)", addr, partitions)
	}
	prom := "not answering: `deploy/local/prometheus.sh up` starts it"
	if ok := promReady(c.prometheusURL); ok {
		prom = "answering"
	}
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "referralops demo\n")
	fmt.Fprintf(w, "  Kafka\t%s; topics %s\n", kafkaWhat, strings.Join(append(inputsOf(c, kc), kc.Topics.DeadLetters), ", "))
	fmt.Fprintf(w, "  kcat\tkcat -b %s -L    kcat -b %s -C -t %s -o end\n", addr, addr, kc.Topics.Referrals)
	fmt.Fprintf(w, "  ClickHouse\tdatabase %s at %s:%s\n", db, host, port)
	fmt.Fprintf(w, "  analysts\tclickhouse-client --host %s --port %s --user referralops_analyst --password \"${CLICKHOUSE_ANALYST_PASSWORD:-analyst-dev}\" --database %s --query 'SELECT * FROM v_referrer_scorecard LIMIT 20'\n",
		host, port, db)
	fmt.Fprintf(w, "  KPI metrics\t%s/metrics\n", exportURL)
	fmt.Fprintf(w, "  ingest metrics\t%s/metrics\n", ingestURL)
	fmt.Fprintf(w, "  Prometheus UI\t%s (%s)\n", c.prometheusURL, prom)
	fmt.Fprintf(w, "  dashboards\t%s (Grafana JSON, generated)\n", c.dashboards)
	_ = w.Flush()
	fmt.Fprintln(out)
}

func promReady(url string) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(strings.TrimSuffix(url, "/") + "/-/ready")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// printSummary prints what the database holds, what this run consumed by
// input format (formats maps each input topic to its format) and what it
// dead-lettered.
func printSummary(ctx context.Context, out io.Writer, conn clickhouse.Querier, db string, reg prometheus.Gatherer, formats map[string]string) error {
	byType, err := conn.Query(ctx, "SELECT event_type, uniqExact(event_id) FROM "+schema.EventsTable(db)+" GROUP BY event_type ORDER BY event_type")
	if err != nil {
		return err
	}
	byLine, err := conn.Query(ctx, "SELECT service_line, uniqExact(referral_id) FROM "+schema.EventsTable(db)+
		" WHERE event_type = 'referral.created' GROUP BY service_line ORDER BY service_line")
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	section := func(title, col string, rows [][]string) {
		fmt.Fprintf(w, "\n%s\t%10s\n", title, col)
		for _, r := range rows {
			fmt.Fprintf(w, "  %s\t%10s\n", r[0], r[1])
		}
	}
	section("events by type (distinct ids in "+schema.EventsTable(db)+")", "events", byType)
	fmt.Fprintf(w, "\nby input format (this run)\t%10s\t%10s\t%10s\t%10s\n", "messages", "events", "skipped", "dead letters")
	for _, r := range byFormat(reg, formats) {
		fmt.Fprintf(w, "  %s\t%10d\t%10d\t%10d\t%10d\n", r.format, r.messages, r.events, r.skipped, r.dead)
	}
	section("dead letters by reason (this run)", "messages", deadLetters(reg))
	section("referrals by service line", "referrals", byLine)
	return w.Flush()
}

// formatRow is what the ingester consumed of one input format: records
// (messages), the events they carried, those that carried no referral work
// and those dead-lettered.
type formatRow struct {
	format                          string
	messages, events, skipped, dead int64
}

// byFormat reads the ingester's records (by topic and outcome) and events
// (by format) counters: a row per format in formats, cloudevents first.
func byFormat(reg prometheus.Gatherer, formats map[string]string) []formatRow {
	rows := map[string]*formatRow{}
	var order []string
	for _, f := range []string{formatCloudEvents, formatHL7v2, formatFHIR} {
		for _, tf := range formats {
			if tf == f {
				rows[f] = &formatRow{format: f}
				order = append(order, f)
				break
			}
		}
	}
	families, _ := reg.Gather()
	for _, fam := range families {
		for _, m := range fam.Metric {
			labels := map[string]string{}
			for _, l := range m.Label {
				labels[l.GetName()] = l.GetValue()
			}
			n := int64(m.Counter.GetValue())
			switch fam.GetName() {
			case selfmetrics.IngestRecords.Name:
				r := rows[formats[labels[selfmetrics.LabelTopic]]]
				if r == nil {
					continue
				}
				r.messages += n
				switch labels[selfmetrics.LabelOutcome] {
				case "skipped":
					r.skipped += n
				case "dead_lettered":
					r.dead += n
				}
			case selfmetrics.IngestEvents.Name:
				if r := rows[labels[selfmetrics.LabelFormat]]; r != nil {
					r.events += n
				}
			}
		}
	}
	out := make([]formatRow, len(order))
	for i, f := range order {
		out[i] = *rows[f]
	}
	return out
}

func deadLetters(reg prometheus.Gatherer) [][]string {
	families, _ := reg.Gather()
	var rows [][]string
	for _, f := range families {
		if f.GetName() != selfmetrics.IngestDeadLetters.Name {
			continue
		}
		for _, m := range f.Metric {
			rows = append(rows, []string{m.Label[0].GetValue(), fmt.Sprint(int64(m.Counter.GetValue()))})
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i][0] < rows[j][0] })
	if len(rows) == 0 {
		rows = append(rows, []string{"(none)", "0"})
	}
	return rows
}

// liveView prints the state of the live demo: on a terminal a block redrawn
// in place (the KPI table of the first window by service line, rates, dead
// letters, lag), otherwise one plain line each time.
type liveView struct {
	out      io.Writer
	terminal bool
	reg      prometheus.Gatherer
	latest   *atomic.Pointer[kpi.Snapshot]
	simNow   *atomic.Int64
	produced *atomic.Int64
	now      func() time.Time

	lastAt     time.Time
	lastStored float64
	lines      int // printed by the last terminal redraw
}

func newLiveView(out io.Writer, reg prometheus.Gatherer, latest *atomic.Pointer[kpi.Snapshot], simNow, produced *atomic.Int64, now func() time.Time) *liveView {
	f, ok := out.(*os.File)
	v := &liveView{out: out, terminal: ok && term.IsTerminal(int(f.Fd())), reg: reg, latest: latest, simNow: simNow, produced: produced, now: now}
	v.lastAt, v.lastStored = now(), v.gather().stored
	return v
}

type ingestNumbers struct {
	stored, deadLetters, lag float64
}

func (v *liveView) gather() ingestNumbers {
	var n ingestNumbers
	families, _ := v.reg.Gather()
	for _, f := range families {
		for _, m := range f.Metric {
			switch f.GetName() {
			case selfmetrics.IngestRecords.Name:
				for _, l := range m.Label {
					if l.GetName() == selfmetrics.LabelOutcome && l.GetValue() == "stored" {
						n.stored += m.Counter.GetValue()
					}
				}
			case selfmetrics.IngestDeadLetters.Name:
				n.deadLetters += m.Counter.GetValue()
			case selfmetrics.IngestConsumerLag.Name:
				n.lag += m.Gauge.GetValue()
			}
		}
	}
	return n
}

func (v *liveView) print() {
	now := v.now()
	n := v.gather()
	rate := 0.0
	if d := now.Sub(v.lastAt).Seconds(); d > 0 {
		rate = (n.stored - v.lastStored) / d
	}
	v.lastAt, v.lastStored = now, n.stored
	sim := time.Unix(v.simNow.Load(), 0).UTC()
	snap := v.latest.Load()
	if !v.terminal {
		line := fmt.Sprintf("live: simulated %s, produced %d, stored %.0f (%.1f events/s), dead letters %.0f, consumer lag %.0f",
			sim.Format(time.RFC3339), v.produced.Load(), n.stored, rate, n.deadLetters, n.lag)
		if snap != nil && len(snap.Windows) > 0 {
			ws := snap.Windows[0]
			line += fmt.Sprintf(", KPIs as of %s: %d referrals in %s, %s scheduled, backlog %d",
				snap.AsOf.Format(time.TimeOnly), ws.Totals.Referrals, ws.Window, kpi.Percent(ws.Totals.Scheduled, ws.Totals.Referrals), ws.Totals.Backlog.Total())
		}
		fmt.Fprintln(v.out, line)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "live %s  simulated %s  (%s behind)\n", now.Format(time.TimeOnly), sim.Format("2006-01-02 15:04"),
		now.Sub(sim).Round(time.Minute))
	fmt.Fprintf(&b, "ingest %.1f events/s  stored %.0f  produced %d  dead letters %.0f  consumer lag %.0f\n\n",
		rate, n.stored, v.produced.Load(), n.deadLetters, n.lag)
	if snap == nil || len(snap.Windows) == 0 {
		b.WriteString("(no KPI snapshot yet)\n")
	} else {
		_ = kpi.WriteCompactTable(&b, *snap) // a strings.Builder does not fail
	}
	b.WriteString("\nCtrl-C stops.\n")
	text := b.String()
	if v.lines > 0 {
		fmt.Fprintf(v.out, "\033[%dA\033[J", v.lines) // back over the last block
	}
	fmt.Fprint(v.out, text)
	v.lines = strings.Count(text, "\n")
}
