package metrics_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
)

// BenchmarkScrape measures GET /metrics of an exporter serving a realistic
// snapshot (12 service lines × 20 locations, default settings) through the
// real HTTP server, as Prometheus scrapes it (gzip). It reports
// seconds/scrape, which `make bench` prints as exporter_scrape_seconds, and
// the series served.
func BenchmarkScrape(b *testing.B) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	e, srv := serveSnapshot(b, reg, synthetic(12, 20, testAsOf))
	client := srv.Client()
	scrape := func() int64 {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("GET /metrics: %v %s", err, resp.Status)
		}
		return n
	}
	b.SetBytes(scrape())
	mfs, err := e.Gatherer(reg).Gather()
	if err != nil {
		b.Fatal(err)
	}
	series := 0
	for _, n := range kpiSeries(mfs) {
		series += n
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		scrape()
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "seconds/scrape")
	b.ReportMetric(float64(series), "series")
}

// kpiSeries counts the time series Prometheus stores per KPI family of a
// gather: a histogram's buckets, le="+Inf", _sum and _count, a summary's
// quantiles, _sum and _count.
func kpiSeries(mfs []*dto.MetricFamily) map[string]int {
	out := map[string]int{}
	for _, mf := range mfs {
		if !kpiFamily.MatchString(mf.GetName()) {
			continue
		}
		for _, m := range mf.GetMetric() {
			n := 1
			if h := m.GetHistogram(); h != nil {
				n += len(h.GetBucket()) + 2
			}
			if s := m.GetSummary(); s != nil {
				n += len(s.GetQuantile()) + 1
			}
			out[mf.GetName()] += n
		}
	}
	return out
}
