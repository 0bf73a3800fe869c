package testenv

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics is one scrape of a /metrics endpoint.
type Metrics map[string]*dto.MetricFamily

// TryScrape fetches and parses url's Prometheus text exposition.
func TryScrape(url string) (Metrics, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return ParseMetrics(resp.Body)
}

// ParseMetrics parses a Prometheus text exposition.
func ParseMetrics(r io.Reader) (Metrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(r)
}

// Scrape is TryScrape failing the test on error.
func Scrape(t testing.TB, url string) Metrics {
	t.Helper()
	m, err := TryScrape(url)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Sum adds the values of every series of the family (0 if absent).
func (m Metrics) Sum(name string) float64 {
	var total float64
	if f := m[name]; f != nil {
		for _, s := range f.Metric {
			total += value(s)
		}
	}
	return total
}

// Value is the value of the family's series with the given label pairs, summed
// over any other labels (0 if none matches); it fails the test if the family is absent.
func (m Metrics) Value(t testing.TB, name string, labelPairs ...string) float64 {
	t.Helper()
	f := m[name]
	if f == nil {
		t.Fatalf("no metric family %s", name)
	}
	var total float64
series:
	for _, s := range f.Metric {
		for i := 0; i+1 < len(labelPairs); i += 2 {
			if label(s, labelPairs[i]) != labelPairs[i+1] {
				continue series
			}
		}
		total += value(s)
	}
	return total
}

func label(s *dto.Metric, name string) string {
	for _, l := range s.Label {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func value(s *dto.Metric) float64 {
	switch {
	case s.Counter != nil:
		return s.Counter.GetValue()
	case s.Gauge != nil:
		return s.Gauge.GetValue()
	case s.Untyped != nil:
		return s.Untyped.GetValue()
	case s.Histogram != nil:
		return float64(s.Histogram.GetSampleCount())
	}
	return 0
}
