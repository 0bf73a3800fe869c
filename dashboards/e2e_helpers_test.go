package dashboards_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"gopkg.in/yaml.v3"

	"github.com/referralops/referralops/dashboards/rules"
	"github.com/referralops/referralops/internal/testenv"
)

// Helpers of the end-to-end tests (e2e_test.go): the processes they run, a
// range query (testenv.Prometheus has instant queries only), the week-old
// history they backfill, and the Alertmanager configuration they load.

// startExport runs `referralops export` on addr over db, as the read-only
// exporter user, with a fixed evaluation time and waits until it serves its
// first snapshot.
func startExport(t *testing.T, addr string, db *testenv.ClickHouseDB, asOf time.Time, refresh time.Duration) *testenv.Process {
	t.Helper()
	p, _ := testenv.StartExport(t, addr, []string{"REFERRALOPS_CLICKHOUSE_DSN=" + db.ExporterDSN()},
		"--as-of", asOf.Format(time.RFC3339), "--refresh-interval", refresh.String())
	return p
}

// writeRules writes the generated rules with every group evaluated each
// second and every alert's for: cut to a second, and returns the file.
func writeRules(t *testing.T) string {
	t.Helper()
	o := rules.DefaultOptions()
	o.Interval = time.Second
	o.ForOverride = time.Second
	path, err := rules.Write(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// rangeResult is what a range query returned: its series, and the points that
// are numbers (a histogram_quantile over rates of zero is NaN at every point:
// a panel without data).
type rangeResult struct {
	series, points, nan int
}

// queryRange evaluates expr over [start, end] at step, as a Grafana time
// series panel does over its time range.
func queryRange(ctx context.Context, base, expr string, start, end time.Time, step time.Duration) (rangeResult, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	params := url.Values{
		"query": {expr},
		"start": {strconv.FormatFloat(float64(start.UnixMilli())/1000, 'f', 3, 64)},
		"end":   {strconv.FormatFloat(float64(end.UnixMilli())/1000, 'f', 3, 64)},
		"step":  {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/query_range?"+params.Encode(), nil)
	if err != nil {
		return rangeResult{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return rangeResult{}, fmt.Errorf("range query %q: %w", expr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return rangeResult{}, fmt.Errorf("range query %q: %w", expr, err)
	}
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Values [][2]any `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" {
		return rangeResult{}, fmt.Errorf("range query %q: %s %s %v", expr, resp.Status, r.Error, err)
	}
	if r.Data.ResultType != "matrix" {
		return rangeResult{}, fmt.Errorf("range query %q: a %s, not a matrix", expr, r.Data.ResultType)
	}
	out := rangeResult{series: len(r.Data.Result)}
	for _, s := range r.Data.Result {
		for _, pt := range s.Values {
			v, _ := pt[1].(string)
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return rangeResult{}, fmt.Errorf("range query %q: value %v: %w", expr, pt[1], err)
			}
			if math.IsNaN(f) {
				out.nan++
			} else {
				out.points++
			}
		}
	}
	return out, nil
}

// writeHistory writes the scraped families as an OpenMetrics file for
// `promtool tsdb create-blocks-from openmetrics`: every series repeated every
// step over [from, to], labelled with job and instance as Prometheus's scrape
// of that target would label it.
func writeHistory(t *testing.T, path string, m testenv.Metrics, job, instance string, from, to time.Time, step time.Duration) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		mf := m[name]
		out := &dto.MetricFamily{Name: mf.Name, Help: mf.Help, Type: mf.Type}
		// Each series' samples in time order: the block writer appends them
		// one by one and refuses a series going back in time.
		for _, s := range mf.Metric {
			labels := append(slices.Clip(s.Label),
				&dto.LabelPair{Name: ptr("job"), Value: ptr(job)},
				&dto.LabelPair{Name: ptr("instance"), Value: ptr(instance)})
			for ts := from; !ts.After(to); ts = ts.Add(step) {
				out.Metric = append(out.Metric, &dto.Metric{
					Label: labels, Gauge: s.Gauge, Counter: s.Counter, Summary: s.Summary,
					Histogram: s.Histogram, Untyped: s.Untyped, TimestampMs: ptr(ts.UnixMilli()),
				})
			}
		}
		if _, err := expfmt.MetricFamilyToOpenMetrics(w, out); err != nil {
			t.Fatalf("history of %s: %v", name, err)
		}
	}
	if _, err := expfmt.FinalizeOpenMetrics(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

// alertmanagerConfig is deploy/alertmanager/alertmanager.yml with each
// receiver's webhook pointed at base/<receiver> and every group_wait cut to a
// second, so the real routing is what the test exercises.
func alertmanagerConfig(t *testing.T, base string) string {
	t.Helper()
	path := filepath.Join(testenv.RepoRoot(), "deploy", "alertmanager", "alertmanager.yml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	receivers, _ := doc["receivers"].([]any)
	hooks := 0
	for _, r := range receivers {
		r, _ := r.(map[string]any)
		name, _ := r["name"].(string)
		configs, _ := r["webhook_configs"].([]any)
		for _, c := range configs {
			if c, ok := c.(map[string]any); ok {
				c["url"] = base + "/" + name
				hooks++
			}
		}
	}
	if hooks == 0 || hooks != len(receivers) {
		t.Fatalf("%s: %d receivers, %d webhook configs: want one webhook per receiver", path, len(receivers), hooks)
	}
	var shorten func(route map[string]any)
	shorten = func(route map[string]any) {
		if _, ok := route["group_wait"]; ok {
			route["group_wait"] = "1s"
		}
		routes, _ := route["routes"].([]any)
		for _, r := range routes {
			if r, ok := r.(map[string]any); ok {
				shorten(r)
			}
		}
	}
	route, ok := doc["route"].(map[string]any)
	if !ok {
		t.Fatalf("%s has no route", path)
	}
	shorten(route)
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// runBinary runs `referralops args...` to completion, failing the test on a
// non-zero exit.
func runBinary(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(testenv.Binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("referralops %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
