package metrics_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
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
	series := 0
	mfs, err := e.Gatherer(reg).Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if kpiFamily.MatchString(mf.GetName()) {
			for _, m := range mf.GetMetric() {
				series++
				if h := m.GetHistogram(); h != nil {
					series += len(h.GetBucket()) + 2 // and le="+Inf", _sum, _count
				}
				if s := m.GetSummary(); s != nil {
					series += len(s.GetQuantile()) + 1 // and _sum, _count
				}
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		scrape()
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "seconds/scrape")
	b.ReportMetric(float64(series), "series")
}
