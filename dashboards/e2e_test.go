package dashboards_test

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/dashboards"
	"github.com/referralops/referralops/dashboards/rules"
	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/metrics"
)

// The end-to-end tests of the dashboards and the alert rules run everything
// for real: the referralops binary (generate, ingest, export) on the Apache
// Kafka broker and the ClickHouse 18.16 server of `make services-up`, a
// Prometheus 2.42 and an Alertmanager 0.25 from the Debian packages with the
// generated rules and the shipped routing. Each test has its own topics,
// databases and servers, so they run in parallel.
//
// The ClickHouse panels are run by TestClickHousePanelsRun (clickhouse_test.go).

// weekAgo is the offset of the week-over-week panels.
const weekAgo = 7 * 24 * time.Hour

// TestE2EDashboardsAndRules: a generated referral network (3,000 referrals
// over 120 days, with duplicates, late events and invalid messages of every
// dead-letter reason) goes through `referralops generate` to Kafka and
// `referralops ingest` to ClickHouse while a real Prometheus scrapes the
// ingester and `referralops export` (fixed --as-of at the data's end) with
// the generated rules loaded, and a week of history backfilled from the same
// data as of seven days earlier. Then:
//   - the ingester's counters agree exactly with what was generated (records
//     by outcome, dead letters by reason), and the referral count today and
//     a week ago (through offset 1w) with the generated events;
//   - every Prometheus panel query of the dashboards, variables at All,
//     returns at least one number through Prometheus's HTTP API: stats and
//     tables as instant queries now, time series panels as range queries over
//     the time Prometheus has been running, as Grafana runs them;
//   - every recording rule evaluates without error and its series has
//     samples.
func TestE2EDashboardsAndRules(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: Kafka, ClickHouse, the binary, Prometheus")
	}
	t.Parallel()
	ctx := context.Background()
	kc := testenv.Topics(t, testenv.KafkaBrokers(t))
	db := testenv.ReaderClickHouse(t) // the exporter reads as its own user
	panels := prometheusPanels(t)

	// The data ends at today 00:00 UTC, the exporter's evaluation time T.
	asOf := time.Now().UTC().Truncate(24 * time.Hour)
	gen := generator.DefaultConfig()
	gen.Seed, gen.Referrals, gen.Days, gen.End = 11, 3000, 120, asOf.Add(-24*time.Hour)
	gen.DuplicateRatio, gen.InvalidRatio, gen.Shuffle = 0.02, 0.01, true
	stats, err := generator.Generate(ctx, gen, func(generator.Message) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(stats.ByReason) != len(event.Reasons()) {
		t.Fatalf("the dataset has invalid messages of %d reasons (%v), want all %d", len(stats.ByReason), stats.ByReason, len(event.Reasons()))
	}
	events := testenv.GenerateEvents(t, gen)

	ingestAddr, exportAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	history := weekAgoHistory(t, events, asOf.Add(-weekAgo), exportAddr)

	group := testenv.UniqueName("e2e-dashboards-")
	ingest := testenv.Start(t, []string{"REFERRALOPS_CLICKHOUSE_DSN=" + db.DSN}, "ingest",
		"--kafka-brokers", kc.Brokers.String(),
		"--topic-referrals", kc.Topics.Referrals,
		"--topic-scheduling", kc.Topics.Scheduling,
		"--topic-communications", kc.Topics.Communications,
		"--topic-dlq", kc.Topics.DeadLetters,
		"--group", group, "--listen", ingestAddr, "--batch-max-age", "200ms", "--log-format", "json")
	testenv.WaitReady(t, ingest, "http://"+ingestAddr, "ingester")
	startExport(t, exportAddr, db, asOf, 2*time.Second)

	prom := testenv.StartPrometheus(t, testenv.PrometheusConfig{
		Jobs:      map[string][]string{rules.JobIngest: {ingestAddr}, rules.JobExport: {exportAddr}},
		RuleFiles: []string{writeRules(t)},
		Backfill:  []string{history},
	})
	from := time.Now()
	prom.WaitTargetsUp(t, time.Minute)

	// The events arrive while Prometheus watches, as in production.
	runBinary(t, nil, "generate", "--kafka-brokers", kc.Brokers.String(),
		"--topic-referrals", kc.Topics.Referrals,
		"--topic-scheduling", kc.Topics.Scheduling,
		"--topic-communications", kc.Topics.Communications,
		"--topic-dlq", kc.Topics.DeadLetters,
		"--seed", strconv.FormatInt(gen.Seed, 10), "--referrals", strconv.Itoa(gen.Referrals), "--days", strconv.Itoa(gen.Days),
		"--end", gen.End.Format(time.DateOnly), "--duplicate-ratio", ratio(gen.DuplicateRatio), "--invalid-ratio", ratio(gen.InvalidRatio), "--shuffle", "--log-format", "json")
	testenv.WaitCommitted(t, kc, group, 2*time.Minute)

	// Prometheus holds what the pipeline did, exactly.
	wantOutcomes := map[string]float64{"stored": float64(stats.Events + stats.Duplicates), "dead_lettered": float64(stats.Invalid)}
	wantReasons := map[string]float64{}
	for r, n := range stats.ByReason {
		wantReasons[string(r)] = float64(n)
	}
	waitVector(t, prom, "sum by (outcome) (referralops_ingest_records_total)", "outcome", wantOutcomes)
	waitVector(t, prom, "sum by (reason) (referralops_ingest_dead_letters_total)", "reason", wantReasons)
	waitVector(t, prom, `sum(referral_referrals{window="30d"})`, "", map[string]float64{"": cohort(events, asOf, 30)})
	// The backfilled week: what the exporter served seven days ago.
	waitVector(t, prom, `sum(referral_referrals{window="30d"} offset 1w)`, "", map[string]float64{"": cohort(events, asOf.Add(-weekAgo), 30)})

	// Every Prometheus panel query shows numbers.
	pending := slices.Clone(panels)
	testenv.Eventually(t, 2*time.Minute, func() bool {
		pending = slices.DeleteFunc(pending, func(p *panelCheck) bool { return p.check(ctx, prom, from) })
		return len(pending) == 0
	}, func() string { return "panel queries without data:\n" + report(pending) })
	t.Logf("%d Prometheus panel queries return data (%d instant, %d range over %s)",
		len(panels), countInstant(panels), len(panels)-countInstant(panels), time.Since(from).Round(time.Second))

	// Every recording rule evaluates and records samples.
	groups := prom.WaitRulesEvaluated(t, time.Minute)
	recorded := map[string]bool{}
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Type == "recording" {
				recorded[r.Name] = false
			}
		}
	}
	if len(recorded) < len(rules.Ratios)*2 {
		t.Fatalf("%d recorded series, want at least two per ratio (%d)", len(recorded), len(rules.Ratios))
	}
	testenv.Eventually(t, time.Minute, func() bool {
		for name, seen := range recorded {
			if !seen {
				s, err := prom.Query(ctx, name)
				recorded[name] = err == nil && len(s) > 0
			}
		}
		return !slices.Contains(slices.Collect(maps.Values(recorded)), false)
	}, func() string {
		var empty []string
		for name, seen := range recorded {
			if !seen {
				empty = append(empty, name)
			}
		}
		slices.Sort(empty)
		return "recording rules without samples: " + strings.Join(empty, ", ")
	})
	t.Logf("%d recorded series have samples", len(recorded))
}

// weekAgoHistory is the exporter's output of a week ago as an OpenMetrics
// file: the same events, loaded into a database of their own as the ingester
// stores them, exported as of asOf, and stamped every minute from a quarter of
// an hour before to an hour after this moment a week ago, labelled as the
// export target at instance.
func weekAgoHistory(t *testing.T, events []event.Event, asOf time.Time, instance string) string {
	t.Helper()
	db := testenv.ReaderClickHouse(t) // the exporter reads as its own user
	db.Load(t, events)
	addr := testenv.FreeAddr(t)
	p := startExport(t, addr, db, asOf, time.Hour)
	m := testenv.Scrape(t, "http://"+addr+"/metrics")
	if m.Sum("referral_referrals") == 0 {
		t.Fatalf("the week-old exporter serves no referrals as of %s", asOf)
	}
	if code := p.Stop(30 * time.Second); code != 0 {
		t.Fatalf("the week-old exporter exited with %d:\n%s", code, p.Output())
	}
	at := time.Now().Add(-weekAgo)
	path := t.TempDir() + "/week-ago.om"
	writeHistory(t, path, m, rules.JobExport, instance, at.Add(-15*time.Minute), at.Add(time.Hour), time.Minute)
	return path
}

// cohort counts the referrals created in (asOf−days, asOf]: the referrals KPI.
func cohort(events []event.Event, asOf time.Time, days int) float64 {
	created := map[string]time.Time{}
	for _, e := range events {
		if e.Type == event.ReferralCreated {
			if c, ok := created[e.Subject]; !ok || e.Time.Before(c) {
				created[e.Subject] = e.Time
			}
		}
	}
	n := 0
	for _, c := range created {
		if c.After(asOf.AddDate(0, 0, -days)) && !c.After(asOf) {
			n++
		}
	}
	return float64(n)
}

func ratio(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// waitVector polls an instant query until its samples, keyed by label, are
// exactly want.
func waitVector(t *testing.T, prom *testenv.Prometheus, expr, label string, want map[string]float64) {
	t.Helper()
	var got map[string]float64
	var err error
	testenv.Eventually(t, time.Minute, func() bool {
		var s []testenv.Sample
		s, err = prom.Query(context.Background(), expr)
		got = map[string]float64{}
		for _, x := range s {
			got[x.Labels[label]] = x.Value
		}
		return err == nil && maps.Equal(got, want)
	}, func() string { return fmt.Sprintf("%s = %v (%v), want %v", expr, got, err, want) })
}

// panelCheck is one Prometheus panel query and what it returned last.
type panelCheck struct {
	q    dashboards.PanelQuery
	expr string // variables set to All
	last string
}

// check reports whether the query returns at least one number: an instant
// query now for stats, tables and bar gauges, a range query over [from, now]
// for time series panels.
func (p *panelCheck) check(ctx context.Context, prom *testenv.Prometheus, from time.Time) bool {
	if p.q.Instant {
		s, err := prom.Query(ctx, p.expr)
		if err != nil {
			p.last = err.Error()
			return false
		}
		nan := 0
		for _, x := range s {
			if math.IsNaN(x.Value) {
				nan++
			}
		}
		p.last = fmt.Sprintf("instant: %d series, %d NaN", len(s), nan)
		return len(s) > nan
	}
	r, err := queryRange(ctx, prom.URL, p.expr, from, time.Now(), time.Second)
	if err != nil {
		p.last = err.Error()
		return false
	}
	p.last = fmt.Sprintf("range since %s: %d series, %d points, %d NaN", from.Format(time.TimeOnly), r.series, r.points, r.nan)
	return r.points > 0
}

// prometheusPanels are the dashboards' Prometheus queries with the variables
// at All, as Grafana opens them.
func prometheusPanels(t *testing.T) []*panelCheck {
	t.Helper()
	ds, err := dashboards.Build(metrics.DefaultTargets())
	if err != nil {
		t.Fatal(err)
	}
	qs, err := dashboards.Queries(ds)
	if err != nil {
		t.Fatal(err)
	}
	var out []*panelCheck
	for _, q := range qs {
		if q.Kind != dashboards.KindPrometheus {
			continue
		}
		expr, err := dashboards.Substitute(q.Expr, dashboards.AllSelected)
		if err != nil {
			t.Fatalf("%s %q %s: %v", q.Dashboard, q.Panel, q.RefID, err)
		}
		out = append(out, &panelCheck{q: q, expr: expr})
	}
	if len(out) < 80 {
		t.Fatalf("%d Prometheus panel queries, want the dashboards' worth", len(out))
	}
	return out
}

func countInstant(ps []*panelCheck) int {
	n := 0
	for _, p := range ps {
		if p.q.Instant {
			n++
		}
	}
	return n
}

func report(ps []*panelCheck) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "  dashboard %s, panel %q, query %s: %s\n    %s\n", p.q.Dashboard, p.q.Panel, p.q.RefID, p.last, p.expr)
	}
	return b.String()
}

// accessLine is the service line of the access-delay datasets; its p90 target
// is its own in metrics.DefaultTargets (66 days).
const accessLine = "cardiology"

// TestE2EAccessDelayAlert: two hand-built datasets of 30 cardiology
// referrals created in the 30 days before T, each booked two hours after its
// creation: "breach" with slots 100 to 109 days out (p90 108 days, over the
// 66-day target), "meet" with slots 10 to 19 days out (p90 18 days). Each is
// loaded into its own database, exported as of T and scraped by its own
// Prometheus with the generated rules (for: 1s). Then, through the
// Prometheus APIs:
//   - both serve the exact nearest-rank p90 of their dataset;
//   - breach: ReferralTimeToAppointmentAboveTarget fires for cardiology only,
//     with the rule's severity, category, summary and runbook link, its value
//     the p90; the alert's expression returns that one series;
//   - meet: after the KPI group has been evaluated at least five times with
//     the p90 present, the alert is neither pending nor firing and its
//     expression returns nothing;
//   - a real Alertmanager with deploy/alertmanager/alertmanager.yml (webhook
//     URLs pointed at the test, group_wait 1s) delivers breach's alert to the
//     receiver operations, grouped by service line, and every notification
//     goes to the receiver its category routes to.
func TestE2EAccessDelayAlert(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: ClickHouse, the binary, Prometheus, Alertmanager")
	}
	t.Parallel()
	asOf := time.Now().UTC().Truncate(time.Hour)
	target := metrics.DefaultTargets().TimeToAppointmentP90Target(accessLine)
	hook := testenv.StartWebhookReceiver(t)
	am := testenv.StartAlertmanager(t, alertmanagerConfig(t, hook.URL))
	rulesFile := writeRules(t)

	t.Run("breach", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		events, p90 := accessDataset(t, asOf, 100)
		if p90 <= target {
			t.Fatalf("the breach dataset's p90 %s is not above the target %s", p90, target)
		}
		prom := accessPrometheus(t, events, asOf, rulesFile, am.URL, p90)

		var alerts []testenv.Alert
		testenv.Eventually(t, time.Minute, func() bool {
			alerts = accessAlerts(t, prom)
			return len(alerts) > 0 && alerts[0].State == "firing"
		}, func() string {
			return fmt.Sprintf("no firing %s: %+v", rules.AlertTimeToAppointmentAboveTarget, alerts)
		})
		if len(alerts) != 1 {
			t.Fatalf("%d alerts %s, want one (cardiology): %+v", len(alerts), rules.AlertTimeToAppointmentAboveTarget, alerts)
		}
		a := alerts[0]
		wantLabels := map[string]string{
			"alertname": rules.AlertTimeToAppointmentAboveTarget, "service_line": accessLine, "window": "30d",
			"severity": rules.SeverityWarning, "category": rules.CategoryAccess,
		}
		if !maps.Equal(a.Labels, wantLabels) {
			t.Errorf("alert labels = %v, want %v", a.Labels, wantLabels)
		}
		wantRunbook := rules.DefaultRunbookURL + "#" + rules.Anchor(rules.AlertTimeToAppointmentAboveTarget)
		if a.Annotations["runbook_url"] != wantRunbook || a.Annotations["summary"] != accessLine+": p90 time to appointment above target" ||
			!strings.Contains(a.Annotations["description"], accessLine) {
			t.Errorf("alert annotations = %v, want runbook %s and a summary naming %s", a.Annotations, wantRunbook, accessLine)
		}
		if v, err := strconv.ParseFloat(a.Value, 64); err != nil || v != p90.Seconds() {
			t.Errorf("alert value = %q, want the p90 %v s", a.Value, p90.Seconds())
		}
		if s := alertExprResult(t, prom); len(s) != 1 || s[0].Labels["service_line"] != accessLine {
			t.Errorf("the alert's expression returns %+v, want the cardiology series", s)
		}

		// Alertmanager routes it by category to operations, grouped by
		// service line, and delivers it to the webhook.
		var msg testenv.WebhookMessage
		testenv.Eventually(t, time.Minute, func() bool {
			for _, m := range hook.Messages() {
				for _, x := range m.Alerts {
					if x.Labels["alertname"] == rules.AlertTimeToAppointmentAboveTarget {
						msg = m
						return true
					}
				}
			}
			return false
		}, func() string {
			held, err := am.Alerts(ctx)
			return fmt.Sprintf("no notification of %s; the webhook got %+v; Alertmanager holds %+v (%v)\n%s",
				rules.AlertTimeToAppointmentAboveTarget, hook.Messages(), held, err, am.Output())
		})
		if msg.Receiver != "operations" || !maps.Equal(msg.GroupLabels, map[string]string{"service_line": accessLine}) || msg.Status != "firing" {
			t.Errorf("notification to %q grouped by %v, status %s; want operations grouped by service_line=%s, firing",
				msg.Receiver, msg.GroupLabels, msg.Status, accessLine)
		}
		for _, x := range msg.Alerts {
			if x.Status != "firing" || x.Labels["service_line"] != accessLine || x.Labels["category"] != rules.CategoryAccess ||
				x.Annotations["runbook_url"] != wantRunbook {
				t.Errorf("delivered alert = %+v, want the firing cardiology access alert", x)
			}
		}
		routes := map[string]string{rules.CategoryAccess: "operations", rules.CategoryPipeline: "platform", rules.CategoryQuality: "service-lines"}
		for _, m := range hook.Messages() {
			for _, x := range m.Alerts {
				if want := routes[x.Labels["category"]]; m.Receiver != want {
					t.Errorf("%s (category %s) went to %s, want %s", x.Labels["alertname"], x.Labels["category"], m.Receiver, want)
				}
			}
		}
	})

	t.Run("meet", func(t *testing.T) {
		t.Parallel()
		events, p90 := accessDataset(t, asOf, 10)
		if p90 >= target {
			t.Fatalf("the meet dataset's p90 %s is not below the target %s", p90, target)
		}
		prom := accessPrometheus(t, events, asOf, rulesFile, "", p90)
		// The p90 is in Prometheus now: wait for five more evaluations of the
		// KPI group, whose target series is recorded at each.
		seen := time.Now()
		targetSeries := fmt.Sprintf("timestamp(%s{service_line=%q})", rules.TimeToAppointmentP90Target, accessLine)
		var last []testenv.Sample
		testenv.Eventually(t, time.Minute, func() bool {
			last, _ = prom.Query(context.Background(), targetSeries)
			return len(last) == 1 && last[0].Value > float64(seen.Add(5*time.Second).Unix())
		}, func() string {
			return fmt.Sprintf("the KPI rules were not evaluated 5 times since %s: %s = %+v", seen, targetSeries, last)
		})
		if alerts := accessAlerts(t, prom); len(alerts) > 0 {
			t.Errorf("%s is active for a dataset that meets its target: %+v", rules.AlertTimeToAppointmentAboveTarget, alerts)
		}
		if s := alertExprResult(t, prom); len(s) != 0 {
			t.Errorf("the alert's expression returns %+v, want nothing", s)
		}
	})
}

// accessDataset builds 30 cardiology referrals created in the 30 days before
// asOf, each booked two hours later into a slot slotDays to slotDays+9 days
// after its creation, checked against the event contract; it returns them
// and their nearest-rank p90 time to appointment.
func accessDataset(t *testing.T, asOf time.Time, slotDays int) ([]event.Event, time.Duration) {
	t.Helper()
	dec := event.NewDecoder(event.DefaultConfig()).WithClock(func() time.Time { return asOf })
	var events []event.Event
	var waits []time.Duration
	for i := range 30 {
		created := asOf.Add(-time.Duration(i+1) * 22 * time.Hour) // 22 h to 27.5 days before T
		wait := time.Duration(slotDays+i%10) * 24 * time.Hour
		referral := fmt.Sprintf("R-E2E-%03d", i)
		for _, e := range []event.Event{
			{ID: fmt.Sprintf("e2e-created-%03d", i), Source: "e2e/referrals", Type: event.ReferralCreated, Time: created, Subject: referral,
				Data: event.Data{ReferrerID: fmt.Sprintf("NPI-%d", i%7), ReferrerOrgID: "ORG-0001", ReferrerType: "primary_care",
					ReferrerNetwork: "in", ServiceLine: accessLine, LocationID: "site-01", DestinationNetwork: "in",
					PayerClass: "commercial", Priority: "routine", Channel: "ereferral", PatientToken: fmt.Sprintf("pt-e2e-%03d", i)}},
			{ID: fmt.Sprintf("e2e-booked-%03d", i), Source: "e2e/scheduling", Type: event.AppointmentBooked, Time: created.Add(2 * time.Hour), Subject: referral,
				Data: event.Data{AppointmentID: fmt.Sprintf("A-E2E-%03d", i), ScheduledFor: created.Add(wait), LocationID: "site-01", VisitType: "new patient consult"}},
		} {
			b, err := event.Encode(e)
			if err != nil {
				t.Fatal(err)
			}
			d, err := dec.Decode(b, nil)
			if err != nil {
				t.Fatalf("hand-built event %s breaks the contract: %v", e.ID, err)
			}
			events = append(events, d)
		}
		waits = append(waits, wait)
	}
	slices.Sort(waits)
	return events, waits[int(math.Ceil(0.9*float64(len(waits))))-1]
}

// accessPrometheus loads events into a database of their own, exports them as
// of asOf and starts a Prometheus scraping that exporter with the rules,
// alerting to alertmanager if not empty; it returns once Prometheus holds the
// exporter's p90 of the access line and it is p90.
func accessPrometheus(t *testing.T, events []event.Event, asOf time.Time, rulesFile, alertmanager string, p90 time.Duration) *testenv.Prometheus {
	t.Helper()
	start := time.Now()
	db := testenv.ReaderClickHouse(t) // the exporter reads as its own user
	db.Load(t, events)
	addr := testenv.FreeAddr(t)
	startExport(t, addr, db, asOf, time.Second)
	t.Logf("loaded and exported in %s", time.Since(start).Round(time.Millisecond))
	prom := testenv.StartPrometheus(t, testenv.PrometheusConfig{
		Jobs:            map[string][]string{rules.JobExport: {addr}},
		RuleFiles:       []string{rulesFile},
		AlertmanagerURL: alertmanager,
	})
	prom.WaitTargetsUp(t, time.Minute)
	t.Logf("Prometheus scraping after %s", time.Since(start).Round(time.Millisecond))
	defer func() { t.Logf("p90 in Prometheus after %s", time.Since(start).Round(time.Millisecond)) }()
	waitVector(t, prom, `referral_time_to_appointment_quantile_seconds{window="30d", quantile="0.9"}`, "service_line",
		map[string]float64{accessLine: p90.Seconds()})
	return prom
}

// accessAlerts are Prometheus's pending and firing access-delay alerts (the
// down alerts fire too: these Prometheus have no ingester to scrape).
func accessAlerts(t *testing.T, prom *testenv.Prometheus) []testenv.Alert {
	t.Helper()
	all, err := prom.Alerts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(all, func(a testenv.Alert) bool { return a.Labels["alertname"] != rules.AlertTimeToAppointmentAboveTarget })
}

// alertExprResult evaluates the access-delay alert's expression, as loaded
// into Prometheus, now.
func alertExprResult(t *testing.T, prom *testenv.Prometheus) []testenv.Sample {
	t.Helper()
	groups, err := prom.Rules(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Type == "alerting" && r.Name == rules.AlertTimeToAppointmentAboveTarget {
				s, err := prom.Query(context.Background(), r.Query)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
		}
	}
	t.Fatalf("Prometheus has no alerting rule %s", rules.AlertTimeToAppointmentAboveTarget)
	return nil
}
