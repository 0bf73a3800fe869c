package metrics_test

import (
	"flag"
	"slices"
	"strings"
	"testing"

	"github.com/referralops/referralops/metrics"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// allowedLabels are KPIS.md's bounded labels (and the exporter's family):
// never an id.
var allowedLabels = []string{
	metrics.LabelWindow, metrics.LabelServiceLine, metrics.LabelLocation, metrics.LabelReferrerType,
	metrics.LabelReferrerNetwork, metrics.LabelAgeBucket, metrics.LabelState, metrics.LabelFamily,
}

func TestCatalog(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range metrics.Catalog {
		t.Run(f.Name, func(t *testing.T) {
			if seen[f.Name] {
				t.Error("listed twice")
			}
			seen[f.Name] = true
			prefix := "referral_"
			if f.Kind == metrics.KindExporter {
				prefix = "referralops_kpi_"
			}
			if !strings.HasPrefix(f.Name, prefix) {
				t.Errorf("want prefix %s", prefix)
			}
			if f.Help == "" || f.Unit == "" {
				t.Error("help and unit are required")
			}
			if (f.Type == metrics.Counter) != strings.HasSuffix(f.Name, "_total") {
				t.Errorf("a %s named %s: only counters end in _total", f.Type, f.Name)
			}
			if f.Unit == "seconds" && !strings.Contains(f.Name, "_seconds") {
				t.Error("a duration's name says _seconds")
			}
			for _, l := range f.Labels {
				if !slices.Contains(allowedLabels, l) {
					t.Errorf("label %q is not one of the bounded labels %v", l, allowedLabels)
				}
			}
			switch f.Kind {
			case metrics.KindCohort, metrics.KindSource:
				if f.Count == nil || f.Type != metrics.Gauge {
					t.Error("a count family is a gauge with a Count accessor")
				}
			case metrics.KindHistogram, metrics.KindQuantiles:
				if f.Distribution == nil {
					t.Error("a distribution family needs a Distribution accessor")
				}
			}
			if (f.Kind == metrics.KindExporter) != (f.KPI == "") {
				t.Error("every KPI family names its kpi field, and only those")
			}
			if f.Denominator != "" {
				d, ok := metrics.Lookup(f.Denominator)
				if !ok || !slices.Equal(d.Labels, f.Labels) || d.Unit != f.Unit {
					t.Errorf("denominator %s: want a family of the catalog with the same labels and unit", f.Denominator)
				}
			}
		})
	}
}
