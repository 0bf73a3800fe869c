package ingest

import (
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/referralops/referralops/metrics/selfmetrics"
)

// TestMetricsServeTheirDeclaration: what the ingester registers is exactly
// selfmetrics.Ingest (names, help, types and labels), which the dashboards and
// alert rules name.
func TestMetricsServeTheirDeclaration(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	// Vectors have no series until used.
	m.records.WithLabelValues("t", outcomeStored)
	m.deadLetters.WithLabelValues("r")
	m.deadLettersReduced.WithLabelValues(reducedStub)
	m.fetchErrors.WithLabelValues("t")
	m.insertErrors.WithLabelValues("242", "1", "2")
	m.lag.WithLabelValues("t", partitionLabel(0))
	m.offsetOutOfRange.WithLabelValues("t", partitionLabel(0))
	m.patientOrderRechecks.WithLabelValues(recheckDone)
	m.kpiStatePasses.WithLabelValues(kpiStatePassed)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]selfmetrics.Metric{}
	for _, mf := range mfs {
		var ls []string
		for _, l := range mf.GetMetric()[0].GetLabel() {
			ls = append(ls, l.GetName())
		}
		served[mf.GetName()] = selfmetrics.Metric{Name: mf.GetName(), Help: mf.GetHelp(),
			Type: selfmetrics.Type(strings.ToLower(mf.GetType().String())), Labels: ls}
	}
	if len(served) != len(selfmetrics.Ingest) {
		t.Errorf("the ingester serves %d metrics, selfmetrics.Ingest declares %d", len(served), len(selfmetrics.Ingest))
	}
	for _, want := range selfmetrics.Ingest {
		got, ok := served[want.Name]
		if !ok {
			t.Errorf("%s is declared but not served", want.Name)
			continue
		}
		wantLabels := slices.Sorted(slices.Values(want.Labels)) // the client sorts label pairs
		if got.Help != want.Help || got.Type != want.Type || !slices.Equal(got.Labels, wantLabels) {
			t.Errorf("served %+v, declared %+v", got, want)
		}
	}
}

// TestMetricOfAnotherTypeIsRefused: building a declared gauge as a counter
// panics at construction, not in a dashboard.
func TestMetricOfAnotherTypeIsRefused(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "referralops_ingest_consumer_lag is declared a gauge, built as a counter") {
			t.Errorf("recovered %v", r)
		}
	}()
	counterOpts(selfmetrics.IngestConsumerLag)
}
