package dashboards

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/metrics"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The committed output: what Grafana provisions. Package generated checks
// that it is current; regenerate names the command that rewrites it.
var dashboardsDir = filepath.Join(testenv.RepoRoot(), "deploy", "grafana", "dashboards")

const regenerate = "make generate"

func build(t *testing.T) []Dashboard {
	t.Helper()
	ds, err := Build(metrics.DefaultTargets())
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// TestBuildIsStable: two runs give the same bytes (maps, ids and layout do not
// depend on iteration order).
func TestBuildIsStable(t *testing.T) {
	a, b := build(t), build(t)
	for i := range a {
		ja, _ := a[i].JSON()
		jb, _ := b[i].JSON()
		if !bytes.Equal(ja, jb) {
			t.Errorf("%s differs between two builds", a[i].UID)
		}
	}
}

// committed reads the committed dashboards.
func committed(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dashboardsDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in %s (%v); regenerate: %s", dashboardsDir, err, regenerate)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

// TestCommittedDashboardsDecode: every committed file decodes into the SDK's
// dashboard.Dashboard, strictly (no field the model does not know, every
// required field present, ClickHouse queries valid), and encodes back to the
// same JSON, panels and queries included.
func TestCommittedDashboardsDecode(t *testing.T) {
	for name, b := range committed(t) {
		t.Run(name, func(t *testing.T) {
			for _, strict := range []bool{true, false} {
				d, err := Decode(b, strict)
				if err != nil {
					t.Fatalf("strict=%v: %v", strict, err)
				}
				again, err := Dashboard{UID: *d.Uid, Model: d}.JSON()
				if err != nil {
					t.Fatal(err)
				}
				var want, got any
				if err := json.Unmarshal(b, &want); err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(again, &got); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("strict=%v: decoding and encoding changed the dashboard:\n%s", strict, firstDiff(want, got))
				}
				ps := panels(d)
				if len(ps) < 8 {
					t.Errorf("strict=%v: %d panels decoded, want a dashboard's worth", strict, len(ps))
				}
				for _, p := range ps {
					if len(p.Targets) == 0 {
						t.Errorf("strict=%v: panel %q decoded without queries", strict, deref(p.Title))
					}
					for _, q := range p.Targets {
						if _, err := panelQuery(q); err != nil {
							t.Errorf("strict=%v: panel %q: %v (a query decoded as an unknown type)", strict, deref(p.Title), err)
						}
					}
				}
			}
		})
	}
}

// TestStrictDecodeRejects: the strict check is not vacuous (the SDK's strict
// decoders return a typed nil on success, see noErrors): an unknown panel
// field, a ClickHouse query the plugin cannot run and a Prometheus query
// without its expression are all rejected.
func TestStrictDecodeRejects(t *testing.T) {
	b := committed(t)["referralops-closed-loop.json"]
	for _, c := range []struct{ name, old, new, want string }{
		{"unknown panel field", `"type": "stat",`, `"type": "stat", "bogus": 1,`, "unexpected field 'bogus'"},
		{"builder query", `"editorType": "sql"`, `"editorType": "builder"`, "editorType: want sql"},
		{"format not matching queryType", `"format": 1,`, `"format": 0,`, "want table/1 or timeSeries/0"},
		{"no expression", `"expr": `, `"exprr": `, "expr"},
	} {
		bad := strings.Replace(string(b), c.old, c.new, 1)
		if bad == string(b) {
			t.Fatalf("%s: %q not in the dashboard", c.name, c.old)
		}
		if _, err := Decode([]byte(bad), true); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: strict decode error %v, want one saying %q", c.name, err, c.want)
		}
	}
}

// firstDiff names the first JSON path where got differs from want.
func firstDiff(want, got any) string {
	var walk func(path string, w, g any) string
	walk = func(path string, w, g any) string {
		switch w := w.(type) {
		case map[string]any:
			gm, ok := g.(map[string]any)
			if !ok {
				return path + ": not an object"
			}
			keys := map[string]bool{}
			for k := range w {
				keys[k] = true
			}
			for k := range gm {
				keys[k] = true
			}
			for k := range keys {
				if d := walk(path+"."+k, w[k], gm[k]); d != "" {
					return d
				}
			}
		case []any:
			ga, ok := g.([]any)
			if !ok || len(ga) != len(w) {
				return path + ": arrays differ in length"
			}
			for i := range w {
				if d := walk(path+"["+strconv.Itoa(i)+"]", w[i], ga[i]); d != "" {
					return d
				}
			}
		default:
			if !reflect.DeepEqual(w, g) {
				b1, _ := json.Marshal(w)
				b2, _ := json.Marshal(g)
				return path + ": want " + string(b1) + ", got " + string(b2)
			}
		}
		return ""
	}
	return walk("", want, got)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// TestUIDsAndTitles: the dashboards keep the uids that links and bookmarks
// use, each is tagged, titles and panel ids and titles are unique.
func TestUIDsAndTitles(t *testing.T) {
	ds := build(t)
	want := []string{"referralops-executive", "referralops-access", "referralops-sources", "referralops-closed-loop", "referralops-pipeline"}
	var uids, titles []string
	for _, d := range ds {
		uids = append(uids, d.UID)
		titles = append(titles, d.Title)
		if deref(d.Model.Uid) != d.UID || deref(d.Model.Title) != d.Title {
			t.Errorf("%s: model uid %q title %q", d.UID, deref(d.Model.Uid), deref(d.Model.Title))
		}
		if !slices.Contains(d.Model.Tags, Tag) {
			t.Errorf("%s: tags %v lack %q", d.UID, d.Model.Tags, Tag)
		}
		ids := map[uint32]bool{}
		names := map[string]bool{}
		for _, p := range d.Model.Panels {
			var id uint32
			switch {
			case p.Panel != nil:
				id = *p.Panel.Id
				title := deref(p.Panel.Title)
				if names[title] {
					t.Errorf("%s: two panels titled %q", d.UID, title)
				}
				names[title] = true
			case p.RowPanel != nil:
				id = p.RowPanel.Id
			}
			if id == 0 || ids[id] {
				t.Errorf("%s: panel id %d missing or repeated", d.UID, id)
			}
			ids[id] = true
		}
	}
	if !slices.Equal(uids, want) {
		t.Errorf("uids %v, want %v (uids must never change)", uids, want)
	}
	slices.Sort(titles)
	if len(slices.Compact(titles)) != len(ds) {
		t.Errorf("dashboard titles repeat: %v", titles)
	}
}

// TestEveryPanelIsDescribed: every panel says what its number means, names its
// datasource (a datasource variable that defaults to a provisioned uid), runs
// its queries on that datasource, and has a unit.
func TestEveryPanelIsDescribed(t *testing.T) {
	for _, d := range build(t) {
		vars := map[string]dashboard.VariableModel{}
		for _, v := range d.Model.Templating.List {
			vars[v.Name] = v
		}
		for _, p := range panels(d.Model) {
			title := deref(p.Title)
			if len(deref(p.Description)) < 40 {
				t.Errorf("%s %q: description %q says too little", d.UID, title, deref(p.Description))
			}
			if p.Datasource == nil || p.Datasource.Type == nil || p.Datasource.Uid == nil {
				t.Errorf("%s %q: no datasource", d.UID, title)
				continue
			}
			name := strings.TrimSuffix(strings.TrimPrefix(*p.Datasource.Uid, "${"), "}")
			v, ok := vars[name]
			if !ok || v.Type != "datasource" || v.Query == nil || deref(v.Query.String) != *p.Datasource.Type {
				t.Errorf("%s %q: datasource %s is not a %s datasource variable of the dashboard", d.UID, title, *p.Datasource.Uid, *p.Datasource.Type)
				continue
			}
			def := deref(v.Current.Value.String)
			if def != PrometheusUID && def != ClickHouseUID {
				t.Errorf("%s: variable %s defaults to %q, not a provisioned datasource", d.UID, name, def)
			}
			for _, q := range p.Targets {
				pq, _ := panelQuery(q)
				kind := map[QueryKind]string{KindPrometheus: "prometheus", KindClickHouse: ClickHousePluginID}[pq.Kind]
				if kind != *p.Datasource.Type {
					t.Errorf("%s %q: %s query on a %s panel", d.UID, title, pq.Kind, *p.Datasource.Type)
				}
			}
			if p.FieldConfig == nil || deref(p.FieldConfig.Defaults.Unit) == "" {
				t.Errorf("%s %q: no unit", d.UID, title)
			}
		}
	}
}

// TestThresholdsFollowTargets: changing a target changes the colours and the
// target lines of the panels that show it.
func TestThresholdsFollowTargets(t *testing.T) {
	tg := metrics.DefaultTargets()
	tg.LeakageRateMax = 0.42
	tg.ClosedLoopRateMin = 0.61
	tg.TimeToAppointmentP90["cardiology"] = 17 * 24 * 60 * 60 * 1e9
	ds, err := Build(tg)
	if err != nil {
		t.Fatal(err)
	}
	steps := func(uid, title string) []float64 {
		for _, d := range ds {
			if d.UID != uid {
				continue
			}
			for _, p := range panels(d.Model) {
				if deref(p.Title) == title {
					var vs []float64
					for _, s := range p.FieldConfig.Defaults.Thresholds.Steps {
						if s.Value != nil {
							vs = append(vs, *s.Value)
						}
					}
					return vs
				}
			}
		}
		t.Fatalf("no panel %q in %s", title, uid)
		return nil
	}
	for _, c := range []struct {
		uid, title string
		want       float64
	}{
		{uidExecutive, "Leakage rate", 0.42},
		{uidExecutive, "Closed-loop rate", 0.61},
		{uidSources, "Leakage rate by referrer type", 0.42},
		{uidClosedLoop, "Closed-loop rate by service line", 0.61},
		{uidAccess, "Backlog older than 7 days by service line", float64(tg.BacklogOver7Days)},
		{uidAccess, "No-show rate", tg.NoShowRateMax},
	} {
		if got := steps(c.uid, c.title); !slices.Equal(got, []float64{c.want}) {
			t.Errorf("%s %q thresholds %v, want [%v]", c.uid, c.title, got, c.want)
		}
	}
	qs, err := Queries(ds)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, q := range qs {
		if q.Panel == "Time to appointment p90 and target by service line" && q.RefID == "B" {
			found = strings.Contains(q.Expr, `label_replace(vector(17), "service_line", "cardiology", "", "")`)
		}
	}
	if !found {
		t.Error("the p90 target series does not carry cardiology's changed target of 17 days")
	}
}

// TestMissingRatioFailsGeneration: panels name catalog values, so an
// unknown metric does not compile; a ratio panel, or a target mark, on a
// family the catalog gives no ratio or target makes generation fail, naming
// it.
func TestMissingRatioFailsGeneration(t *testing.T) {
	g := &generator{targets: metrics.DefaultTargets()}
	g.ratio(metrics.Referrals, nil, "")                       // no denominator
	g.ratioDesc("Referrals", metrics.LoopCohortReferrals, "") // no denominator
	g.targetTh(metrics.ScheduledReferrals)                    // a ratio without a target
	g.targetNote(metrics.Referrals, markStat, "")             // no ratio at all
	msg := errorsText(g.errs)
	for _, want := range []string{
		"referral_referrals has no denominator",
		"referral_loop_cohort_referrals has no denominator",
		"referral_scheduled_referrals has no target",
		"referral_referrals has no target",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("errors %q lack %q", msg, want)
		}
	}
}

func errorsText(errs []error) string {
	var s []string
	for _, e := range errs {
		s = append(s, e.Error())
	}
	return strings.Join(s, "\n")
}

// TestTargetsFollowTheCatalog: a ratio's thresholds and the sentence that
// states them come from its catalog target, on the side the target says is
// bad.
func TestTargetsFollowTheCatalog(t *testing.T) {
	tg := metrics.DefaultTargets()
	tg.ClosedLoopRateMin, tg.NoShowRateMax = 0.61, 0.07
	g := &generator{targets: tg}
	for _, c := range []struct {
		f         metrics.Family
		m         mark
		whose     string
		wantNote  string
		wantSteps []string // colour and value of each step
	}{
		{metrics.LoopClosedReferrals, markStat, "", "Red below the target minimum 61%.", []string{"red <nil>", "green 0.61"}},
		{metrics.LoopClosedReferrals, markLine, "", "Dashed line: target minimum 61%.", []string{"red <nil>", "green 0.61"}},
		{metrics.NoShowAppointments, markBar, "", "Red from the target maximum 7%.", []string{"green <nil>", "red 0.07"}},
		{metrics.InternalLeakedReferrals, markStat, "leakage ", "Red at the leakage target maximum 30%.", []string{"green <nil>", "red 0.3"}},
	} {
		if got := g.targetNote(c.f, c.m, c.whose); got != c.wantNote {
			t.Errorf("%s: note %q, want %q", c.f.Name, got, c.wantNote)
		}
		th, err := g.targetTh(c.f).Build()
		if err != nil {
			t.Fatal(err)
		}
		var steps []string
		for _, s := range th.Steps {
			v := "<nil>"
			if s.Value != nil {
				v = strconv.FormatFloat(*s.Value, 'f', -1, 64)
			}
			steps = append(steps, s.Color+" "+v)
		}
		if !slices.Equal(steps, c.wantSteps) {
			t.Errorf("%s: thresholds %v, want %v", c.f.Name, steps, c.wantSteps)
		}
	}
	if len(g.errs) > 0 {
		t.Error(errorsText(g.errs))
	}
}

// TestDashboardsDoNotImportIngest: the dashboards and rules learn the
// ingester's metric names from metrics/selfmetrics, not from package ingest,
// so generating them does not build kafka-go; selfmetrics itself imports only
// the standard library.
func TestDashboardsDoNotImportIngest(t *testing.T) {
	const module = "github.com/referralops/referralops/"
	deps := func(pkg string) []string {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", module+pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		return strings.Fields(string(out))
	}
	for _, pkg := range []string{"dashboards", "dashboards/rules"} {
		ds := deps(pkg)
		if !slices.Contains(ds, module+"metrics/selfmetrics") {
			t.Errorf("%s does not depend on metrics/selfmetrics: did go list change?\n%v", pkg, ds)
		}
		for _, d := range ds {
			if d == module+"ingest" || strings.HasPrefix(d, "github.com/segmentio/kafka-go") {
				t.Errorf("%s depends on %s", pkg, d)
			}
		}
	}
	if ds := deps("metrics/selfmetrics"); !slices.Equal(ds, []string{module + "metrics/selfmetrics"}) {
		t.Errorf("metrics/selfmetrics imports more than the standard library: %v", ds)
	}
}
