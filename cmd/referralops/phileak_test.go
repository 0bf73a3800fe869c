package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/dashboards/rules"
	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/schema"
)

// phiScan finds the identifiers of the generated data (patient tokens,
// referral ids, appointment ids) in what the pipeline writes, and records
// every hit with where it was.
type phiScan struct {
	ids  map[string]string // identifier → its kind
	hits []string
}

func newPHIScan(events []event.Event) *phiScan {
	s := &phiScan{ids: map[string]string{}}
	for _, e := range events {
		for id, kind := range map[string]string{
			e.Subject: "referral id", e.Data.PatientToken: "patient_token", e.Data.AppointmentID: "appointment id",
		} {
			if id != "" {
				s.ids[id] = kind
			}
		}
	}
	return s
}

// scan records each identifier found in text; where names the source.
func (s *phiScan) scan(where, text string) {
	for id, kind := range s.ids {
		if i := strings.Index(text, id); i >= 0 {
			line := text[strings.LastIndexByte(text[:i], '\n')+1:]
			if j := strings.IndexByte(line, '\n'); j >= 0 {
				line = line[:j]
			}
			s.hits = append(s.hits, fmt.Sprintf("%s: %s %s in %.300q", where, kind, id, line))
		}
	}
}

func (s *phiScan) count(kind string) int {
	n := 0
	for _, k := range s.ids {
		if k == kind {
			n++
		}
	}
	return n
}

// TestSecurityPHILeak runs the whole pipeline — `generate` into Kafka (with
// invalid messages, so that dead letters exist), `ingest` into ClickHouse
// 18.16, `export`, and a real Prometheus scraping both with the generated
// rules — and then looks for any patient_token, referral id or appointment id
// of the generated data in: every series and every label value Prometheus
// holds (its API), every log line of every process (the four above and
// `dashboards`), every header the ingester adds to a dead letter (and every
// original header's name: their values are the raw message, like its key and
// value), and the dashboards and Grafana provisioning, generated and
// committed. One hit fails.
//
// and every row each ClickHouse reader user can read, for patient tokens
// (scanReaderRows). The ingester runs as the writer user, the exporter as
// the exporter, on a ClickHouse server of the test's own whose users.xml
// allows the readers only the PHI-free database.
func TestSecurityPHILeak(t *testing.T) {
	kc := testenv.Topics(t, testenv.KafkaBrokers(t))
	db := testenv.ReaderClickHouse(t)
	gen := generator.DefaultConfig()
	gen.Seed, gen.Referrals, gen.Days, gen.InvalidRatio = 11, 200, 30, 0.05
	gen.End = time.Now().UTC().Truncate(24 * time.Hour)
	s := newPHIScan(testenv.GenerateEvents(t, gen))
	for _, kind := range []string{"referral id", "patient_token", "appointment id"} {
		if s.count(kind) == 0 {
			t.Fatalf("the generated data has no %s: the scan would prove nothing", kind)
		}
	}
	for id := range s.ids { // the scan itself finds an identifier in a line
		probe := &phiScan{ids: s.ids}
		probe.scan("probe", "first line\n{\"msg\":\"x\",\"id\":\""+id+"\"}\nlast line")
		if len(probe.hits) != 1 || !strings.Contains(probe.hits[0], `"id\":\"`+id) {
			t.Fatalf("the scan does not find %s: %v", id, probe.hits)
		}
		break
	}

	topics := []string{"--kafka-brokers", kc.Brokers.String(), "--topic-referrals", kc.Topics.Referrals,
		"--topic-scheduling", kc.Topics.Scheduling, "--topic-communications", kc.Topics.Communications,
		"--topic-dlq", kc.Topics.DeadLetters}
	generate := testenv.Start(t, nil, append([]string{"generate", "--seed", strconv.FormatInt(gen.Seed, 10),
		"--referrals", strconv.Itoa(gen.Referrals), "--days", strconv.Itoa(gen.Days), "--end", gen.End.Format("2006-01-02"),
		"--invalid-ratio", "0.05", "--log-format", "json"}, topics...)...)
	testenv.Eventually(t, 2*time.Minute, generate.Exited, func() string { return "generate does not finish:\n" + generate.Output() })
	if code := generate.Stop(time.Second); code != 0 {
		t.Fatalf("generate exited %d:\n%s", code, generate.Output())
	}

	ingestAddr := testenv.FreeAddr(t)
	group := testenv.UniqueName("phi-leak-")
	ingest := testenv.Start(t, []string{"REFERRALOPS_CLICKHOUSE_DSN=" + db.UserDSN(schema.WriterUser)}, append([]string{"ingest", "--group", group,
		"--listen", ingestAddr, "--batch-max-age", "200ms", "--log-format", "json"}, topics...)...)
	testenv.WaitCommitted(t, kc, group, 2*time.Minute)
	checkPatientOrder(t, db, testenv.GenerateEvents(t, gen))
	export, exportURL := testenv.StartExport(t, "", []string{"REFERRALOPS_CLICKHOUSE_DSN=" + db.ExporterDSN()}, "--refresh-interval", "2s")
	exportAddr := strings.TrimPrefix(exportURL, "http://")

	o := rules.DefaultOptions()
	o.Interval = time.Second
	rulesFile, err := rules.Write(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	prom := testenv.StartPrometheus(t, testenv.PrometheusConfig{
		Jobs:      map[string][]string{rules.JobIngest: {ingestAddr}, rules.JobExport: {exportAddr}},
		RuleFiles: []string{rulesFile},
	})
	prom.WaitTargetsUp(t, time.Minute)
	prom.WaitRulesEvaluated(t, time.Minute)
	// The KPIs and the dead letters have reached Prometheus: there is
	// something to leak.
	for _, q := range []string{`count(referral_referrals)`, `sum(referralops_ingest_dead_letters_total)`} {
		testenv.Eventually(t, time.Minute, func() bool {
			v, err := prom.Query(context.Background(), q)
			return err == nil && len(v) == 1 && v[0].Value > 0
		}, func() string { return q + " is not positive in Prometheus" })
	}

	series := promSeriesAndLabels(t, prom.URL)
	if len(series) < 100 {
		t.Fatalf("%d series and label values from Prometheus: too few to be all of them", len(series))
	}
	for _, text := range series {
		s.scan("Prometheus", text)
	}

	letters := deadLetterHeaders(t, kc)
	if len(letters) == 0 {
		t.Fatal("no dead letters: the invalid messages did not reach the dead-letter topic")
	}
	for _, h := range letters {
		s.scan("dead-letter header", h)
	}

	out := t.TempDir()
	dashboards := testenv.Start(t, nil, "dashboards", "--out", filepath.Join(out, "dashboards"),
		"--provisioning", filepath.Join(out, "provisioning"), "--log-format", "json")
	testenv.Eventually(t, time.Minute, dashboards.Exited, func() string { return "dashboards does not finish" })
	if code := dashboards.Stop(time.Second); code != 0 {
		t.Fatalf("dashboards exited %d:\n%s", code, dashboards.Output())
	}
	files := 0
	for _, dir := range []string{out, filepath.Join(testenv.RepoRoot(), "deploy", "grafana")} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			files++
			s.scan(path, string(b))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if files < 8 {
		t.Fatalf("%d dashboard and provisioning files scanned, want both sets", files)
	}

	// Logs last, once every process has done its work.
	for name, p := range map[string]*testenv.Process{"generate": generate, "ingest": ingest, "export": export, "dashboards": dashboards} {
		if p.Output() == "" && name != "dashboards" {
			t.Errorf("%s logged nothing: its log would prove nothing", name)
		}
		s.scan(name+" log", p.Output())
	}
	s.scan("Prometheus log", prom.Output())

	scanReaderRows(t, db, []string{schema.ExporterUser, schema.GrafanaUser, schema.AnalystUser}, s)

	sort.Strings(s.hits)
	for i, h := range s.hits {
		if i == 20 {
			t.Errorf("... and %d more", len(s.hits)-i)
			break
		}
		t.Error(h)
	}
	t.Logf("scanned for %d identifiers (%d referral ids, %d patient tokens, %d appointment ids): %d Prometheus series and label values, %d dead-letter headers, %d dashboard and provisioning files, 5 logs",
		len(s.ids), s.count("referral id"), s.count("patient_token"), s.count("appointment id"), len(series), len(letters), files)
}

// scanReaderRows scans every row each of readers can read in db's server
// (readableRows) for the patient tokens of s; analysts legitimately see
// referral and appointment ids in their worklists, so those are not hits.
func scanReaderRows(t *testing.T, db *testenv.ClickHouseDB, readers []string, s *phiScan) {
	t.Helper()
	tokens := &phiScan{ids: map[string]string{}}
	for id, kind := range s.ids {
		if kind == "patient_token" {
			tokens.ids[id] = kind
		}
	}
	relations := 0
	for _, user := range readers {
		rows := readableRows(t, db, user)
		if _, ok := rows[db.Database+".v_referrals"]; !ok {
			t.Errorf("%s cannot read v_referrals: the scan of its rows would prove nothing", user)
		}
		for r, body := range rows {
			tokens.scan(user+" reading "+r, body)
		}
		relations += len(rows)
	}
	s.hits = append(s.hits, tokens.hits...)
	t.Logf("ClickHouse: %d relations readable by %v scanned for %d patient tokens", relations, readers, tokens.count("patient_token"))
}

// checkPatientOrder: the ingester, as the writer, recomputed the CMS50
// patient order (migration 0010) before committing: once the offsets are
// committed, every referral with a patient token has its row.
func checkPatientOrder(t *testing.T, db *testenv.ClickHouseDB, events []event.Event) {
	t.Helper()
	tokened := map[string]bool{}
	for _, e := range events {
		if e.Type == event.ReferralCreated && e.Data.PatientToken != "" {
			tokened[e.Subject] = true
		}
	}
	rows, err := db.Querier().Query(context.Background(), "SELECT uniqExact(referral_id) FROM "+db.Database+".referral_patient_order")
	if err != nil {
		t.Fatal(err)
	}
	if want := strconv.Itoa(len(tokened)); len(rows) != 1 || rows[0][0] != want {
		t.Errorf("referral_patient_order has %v referrals after the ingester committed, want %s", rows, want)
	}
}

// promSeriesAndLabels reads every series Prometheus holds (/api/v1/series,
// each as its label set) and every value of every label name
// (/api/v1/label/<name>/values).
func promSeriesAndLabels(t *testing.T, base string) []string {
	t.Helper()
	get := func(path string, q url.Values) []json.RawMessage {
		c := http.Client{Timeout: 30 * time.Second}
		resp, err := c.Get(base + path + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r struct {
			Status string            `json:"status"`
			Data   []json.RawMessage `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" {
			t.Fatalf("GET %s: status %s, %v", path, r.Status, err)
		}
		return r.Data
	}
	var out []string
	for _, s := range get("/api/v1/series", url.Values{"match[]": {`{__name__=~".+"}`}}) {
		out = append(out, string(s))
	}
	for _, raw := range get("/api/v1/labels", nil) {
		var name string
		if err := json.Unmarshal(raw, &name); err != nil {
			t.Fatal(err)
		}
		for _, v := range get("/api/v1/label/"+url.PathEscape(name)+"/values", nil) {
			out = append(out, name+"="+string(v))
		}
	}
	return out
}

// deadLetterHeaders reads every dead letter of kc's topic and returns every
// header's key, and the value of each header the ingester adds
// (referralops-*). Not returned: the dead letter's key, value and the values
// of the original message's headers, which are the raw message, kept for
// replay and PHI by design (README, Security: the topic's retention and
// readers are what protect them): a CloudEvents binary-mode message carries
// its referral id in ce_subject as its key does.
func deadLetterHeaders(t *testing.T, kc broker.Config) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	first, end, err := broker.PartitionOffsets(ctx, kc, kc.Topics.DeadLetters)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for p, last := range end {
		if first[p] >= last {
			continue
		}
		r, err := broker.NewPartitionReader(kc, kc.Topics.DeadLetters, p)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.SetOffset(first[p]); err != nil {
			t.Fatal(err)
		}
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("read %s/%d: %v", kc.Topics.DeadLetters, p, err)
			}
			for _, h := range m.Headers {
				if strings.HasPrefix(h.Key, "referralops-") {
					out = append(out, h.Key+": "+string(h.Value))
				} else {
					out = append(out, h.Key)
				}
			}
			if m.Offset+1 >= last {
				break
			}
		}
		r.Close()
	}
	return out
}
