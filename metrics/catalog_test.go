package metrics_test

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/referralops/referralops/metrics"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// allowedLabels are KPIS.md's bounded labels (and the exporter's family, and
// the leak reason, a closed set of five): never an id.
var allowedLabels = []string{
	metrics.LabelWindow, metrics.LabelServiceLine, metrics.LabelLocation, metrics.LabelReferrerType,
	metrics.LabelReferrerNetwork, metrics.LabelAgeBucket, metrics.LabelState, metrics.LabelLevel, metrics.LabelFamily,
	metrics.LabelPriority, metrics.LabelPayerClass, metrics.LabelReason,
}

func TestCatalog(t *testing.T) {
	seen, ratioNames := map[string]bool{}, map[string]bool{}
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
			case metrics.KindCohort, metrics.KindSource, metrics.KindPriority:
				if f.Count == nil || f.Type != metrics.Gauge {
					t.Error("a count family is a gauge with a Count accessor")
				}
			case metrics.KindLeakedBy:
				if f.By == nil || len(f.Values) == 0 || f.Type != metrics.Gauge {
					t.Error("a leaked-by family is a gauge with a By accessor and its label's values")
				}
			case metrics.KindHistogram, metrics.KindQuantiles, metrics.KindPriorityHistogram, metrics.KindSiteHistogram, metrics.KindPriorityQuantiles:
				if f.Distribution == nil {
					t.Error("a distribution family needs a Distribution accessor")
				}
			}
			if (f.Kind == metrics.KindExporter) != (f.KPI == "") {
				t.Error("every KPI family names its kpi field, and only those")
			}
			if f.Ratio != nil {
				checkRatio(t, f, ratioNames)
			}
		})
	}
}

// checkRatio: a ratio divides by a family of the catalog of the same labels
// and unit, has a unique name, and alerts only against a target, in a
// category of its own.
func checkRatio(t *testing.T, f metrics.Family, names map[string]bool) {
	t.Helper()
	r := f.Ratio
	d, ok := metrics.Lookup(r.Denominator.Name)
	if !ok || !slices.Equal(d.Labels, f.Labels) || d.Unit != f.Unit || d.Ratio != nil {
		t.Errorf("denominator %s: want a family of the catalog, not itself a ratio, with the same labels and unit", r.Denominator.Name)
	}
	if _, clash := metrics.Lookup(r.Name); !strings.HasPrefix(r.Name, "referral_") || names[r.Name] || clash {
		t.Errorf("ratio name %q: want a referral_ name of its own", r.Name)
	}
	names[r.Name] = true
	if a := r.Alert; a != nil {
		if r.Target == nil || a.Name == "" || a.What == "" {
			t.Errorf("alert %+v: want a name and words, on a ratio with a target", a)
		}
		if a.Category != metrics.CategoryAccess && a.Category != metrics.CategoryQuality {
			t.Errorf("alert %s: category %q is not access or quality", a.Name, a.Category)
		}
	}
}

// TestRateTargetsReadTheirKey: each ratio bound reads the Targets field its
// key sets in a targets file, and says the side its _min or _max suffix does.
func TestRateTargetsReadTheirKey(t *testing.T) {
	for _, r := range []metrics.RateTarget{metrics.TargetClosedLoopRateMin, metrics.TargetLeakageRateMax,
		metrics.TargetNoShowRateMax, metrics.TargetAuthDenialRateMax, metrics.TargetIncompleteRateMax} {
		path := filepath.Join(t.TempDir(), "targets.yml")
		if err := os.WriteFile(path, []byte(r.Key+": 0.4242\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		tg, err := metrics.LoadTargets(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Of(tg); got != 0.4242 {
			t.Errorf("%s: read %g from a file setting it to 0.4242", r.Key, got)
		}
		if want := map[bool]metrics.Direction{true: metrics.BelowIsBad, false: metrics.AboveIsBad}[strings.HasSuffix(r.Key, "_min")]; r.Bad != want {
			t.Errorf("%s: bad %s, want %s", r.Key, r.Bad, want)
		}
	}
}
