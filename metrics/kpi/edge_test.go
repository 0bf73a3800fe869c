package kpi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/metrics/kpi"
	"github.com/referralops/referralops/metrics/kpi/sla"
)

// TestEdgeCases runs each hand-written case of testdata/edge: NAME.ndjson holds
// structured CloudEvents (in delivery order, duplicates allowed) and NAME.json
// the expected `referralops kpi --format json` objects, one per (as_of, window)
// to evaluate (an array, or a single object). Each case gets its own database on
// each engine, and the reference implementation must agree too.
func TestEdgeCases(t *testing.T) {
	cases, err := filepath.Glob(filepath.Join("testdata", "edge", "*.ndjson"))
	if err != nil || len(cases) == 0 {
		t.Fatalf("no cases in testdata/edge: %v", err)
	}
	for _, path := range cases {
		name := strings.TrimSuffix(filepath.Base(path), ".ndjson")
		t.Run(name, func(t *testing.T) {
			events := readNDJSON(t, path)
			want := readExpected(t, strings.TrimSuffix(path, ".ndjson")+".json")
			for _, w := range want {
				asOf, window := caseTime(t, w)
				_, refCal := caseCalendar(t, w)
				got := referenceKPIsCalendar(events, asOf, window.Duration(), window.String(), refCal)
				compareJSON(t, "reference "+w["as_of"].(string)+" "+w["window"].(string), got, w)
			}
			testenv.OnEngines(t, func(t *testing.T, e *testenv.Engine) {
				db := e.Migrated(t)
				e.Load(t, db, events)
				for _, w := range want {
					asOf, window := caseTime(t, w)
					cal, _ := caseCalendar(t, w)
					req := kpi.Request{DB: db, AsOf: asOf, Windows: []kpi.Window{window}, Attention: true, Calendar: &cal}
					s, err := req.Evaluate(context.Background(), e)
					if err != nil {
						t.Fatal(err)
					}
					compareJSON(t, e.Name+" "+w["as_of"].(string)+" "+w["window"].(string), snapshotJSON(t, s), w)
				}
			})
		})
	}
}

func readNDJSON(t testing.TB, path string) []event.Event {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := event.NewDecoder(event.DefaultConfig()).WithClock(func() time.Time {
		return time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	})
	var events []event.Event
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		e, err := dec.Decode(line, nil)
		if err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		events = append(events, e)
	}
	return events
}

// readExpected reads one window object or an array of them.
func readExpected(t testing.TB, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v := decodeJSON(t, b)
	switch x := v.(type) {
	case map[string]any:
		return []map[string]any{x}
	case []any:
		out := make([]map[string]any, len(x))
		for i, o := range x {
			out[i] = o.(map[string]any)
		}
		return out
	}
	t.Fatalf("%s: want an object or an array", path)
	return nil
}

func caseTime(t testing.TB, w map[string]any) (time.Time, kpi.Window) {
	t.Helper()
	asOf, err := time.Parse(time.RFC3339, w["as_of"].(string))
	if err != nil {
		t.Fatal(err)
	}
	window, err := kpi.ParseWindow(w["window"].(string))
	if err != nil {
		t.Fatal(err)
	}
	return asOf, window
}

// caseCalendar reads the case's sla_calendar, for the KPI SQL and for the
// reference.
func caseCalendar(t testing.TB, w map[string]any) (sla.Calendar, refCalendar) {
	t.Helper()
	raw, ok := w["sla_calendar"].(map[string]any)
	if !ok {
		t.Fatalf("case %s %s has no sla_calendar", w["as_of"], w["window"])
	}
	b, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	var cal sla.Calendar
	if err := json.Unmarshal(b, &cal); err != nil {
		t.Fatal(err)
	}
	strs := func(v any) []string {
		out := []string{}
		for _, x := range v.([]any) {
			out = append(out, x.(string))
		}
		return out
	}
	triage := map[string]int64{}
	for p, n := range raw["triage_business_days"].(map[string]any) {
		v, err := n.(json.Number).Int64()
		if err != nil {
			t.Fatal(err)
		}
		triage[p] = v
	}
	return cal, newRefCalendar(raw["time_zone"].(string), strs(raw["weekend"]), strs(raw["holidays"]), triage)
}

// decodeJSON decodes with exact numbers.
func decodeJSON(t testing.TB, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	return v
}

// normalize round-trips v through JSON, so maps built in Go compare with
// decoded files.
func normalize(t testing.TB, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return decodeJSON(t, b)
}

func snapshotJSON(t testing.TB, s kpi.Snapshot) any {
	t.Helper()
	var buf bytes.Buffer
	if err := kpi.WriteJSON(&buf, s); err != nil {
		t.Fatal(err)
	}
	return decodeJSON(t, buf.Bytes())
}

func compareJSON(t testing.TB, what string, got, want any) {
	t.Helper()
	var diffs []string
	diffJSON("", normalize(t, want), normalize(t, got), &diffs)
	if len(diffs) == 0 {
		return
	}
	const show = 20
	more := ""
	if len(diffs) > show {
		more = fmt.Sprintf("\n  ... and %d more", len(diffs)-show)
		diffs = diffs[:show]
	}
	t.Errorf("%s: %d differences (want, got):\n  %s%s", what, len(diffs), strings.Join(diffs, "\n  "), more)
}

// diffJSON lists the paths where two decoded JSON values differ.
func diffJSON(path string, want, got any, out *[]string) {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			break
		}
		keys := map[string]bool{}
		for k := range w {
			keys[k] = true
		}
		for k := range g {
			keys[k] = true
		}
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			wv, wok := w[k]
			gv, gok := g[k]
			switch {
			case !wok:
				*out = append(*out, fmt.Sprintf("%s.%s: unexpected %v", path, k, gv))
			case !gok:
				*out = append(*out, fmt.Sprintf("%s.%s: missing (want %v)", path, k, wv))
			default:
				diffJSON(path+"."+k, wv, gv, out)
			}
		}
		return
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			break
		}
		for i := range w {
			diffJSON(fmt.Sprintf("%s[%d]", path, i), w[i], g[i], out)
		}
		return
	}
	if !reflect.DeepEqual(want, got) {
		*out = append(*out, fmt.Sprintf("%s: %v, %v", path, want, got))
	}
}
