package metrics_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"maps"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/referralops/referralops/internal/httpserver"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/metrics/kpi"
)

const (
	readmeBegin = "<!-- kpi-metrics:begin -->\n"
	readmeEnd   = "<!-- kpi-metrics:end -->"
)

var tableRow = regexp.MustCompile("(?m)^\\| `(referral[a-z0-9_]*)[{`]")

// TestREADME: the README's KPI metrics region (which `make generate` writes
// from WriteReference, and package generated checks is current) lists
// exactly the families the exporter serves.
func TestREADME(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	begin, end := bytes.Index(readme, []byte(readmeBegin)), bytes.Index(readme, []byte(readmeEnd))
	if begin < 0 || end < begin {
		t.Fatalf("README.md has no %q ... %q region", readmeBegin, readmeEnd)
	}
	region := readme[begin+len(readmeBegin) : end]

	var listed []string
	for _, m := range tableRow.FindAllSubmatch(region, -1) {
		listed = append(listed, string(m[1]))
	}
	served := servedFamilies(t, synthetic(3, 3, testAsOf))
	if !slices.Equal(slices.Sorted(slices.Values(listed)), served) {
		t.Errorf("README table lists %v\nthe exporter serves %v", listed, served)
	}
}

// servedFamilies runs an exporter on snapshot s behind the real HTTP server
// and returns the referral_* and referralops_kpi_* families of its /metrics.
func servedFamilies(t *testing.T, s kpi.Snapshot) []string {
	t.Helper()
	_, srv := serveSnapshot(t, prometheus.NewRegistry(), s)
	return kpiFamilies(testenv.Scrape(t, srv.URL+"/metrics"))
}

// serveSnapshot runs an exporter with default settings on snapshot s,
// registered in reg, behind the real HTTP server, closed at cleanup.
func serveSnapshot(tb testing.TB, reg *prometheus.Registry, s kpi.Snapshot) (*metrics.Exporter, *httptest.Server) {
	tb.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := metrics.NewExporter(metrics.DefaultConfig(), kpi.DefaultConfig(),
		func(context.Context, kpi.Request) (kpi.Snapshot, error) { return s, nil }, logger, reg)
	if err := e.Refresh(context.Background()); err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer((&httpserver.Server{Gatherer: e.Gatherer(reg), Ready: e.Ready, Logger: logger}).Handler())
	tb.Cleanup(srv.Close)
	return e, srv
}

var kpiFamily = regexp.MustCompile(`^referral(ops_kpi)?_`)

func kpiFamilies(m testenv.Metrics) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(m)) {
		if kpiFamily.MatchString(name) {
			out = append(out, name)
		}
	}
	return out
}
