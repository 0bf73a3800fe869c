package dashboards

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/metrics/selfmetrics"
)

// TestPromQLParses: every Prometheus panel query parses once the dashboard
// variables are substituted (All selected, and a narrower selection), and every
// series it selects is a catalog family or an ingester metric, selected with
// labels that family has, and filtered by the dashboard's window, service line
// and location wherever the family carries them (a missing window matcher
// would sum the windows).
func TestPromQLParses(t *testing.T) {
	qs, err := Queries(build(t))
	if err != nil {
		t.Fatal(err)
	}
	ingest := map[string]selfmetrics.Metric{}
	for _, m := range selfmetrics.Ingest {
		ingest[m.Name] = m
	}
	p := parser.NewParser(parser.Options{})
	selections := []Vars{
		AllSelected,
		{Window: "90d", ServiceLine: []string{"cardiology", "orthopedics"}, Location: []string{"site-01"}, Interval: 30 * time.Second, Range: 6 * time.Hour},
	}
	n := 0
	for _, q := range qs {
		if q.Kind != KindPrometheus {
			continue
		}
		n++
		for _, v := range selections {
			expr, err := Substitute(q.Expr, v)
			if err != nil {
				t.Errorf("%s %q %s: %v", q.Dashboard, q.Panel, q.RefID, err)
				continue
			}
			ast, err := p.ParseExpr(expr)
			if err != nil {
				t.Errorf("%s %q %s: %v\n%s", q.Dashboard, q.Panel, q.RefID, err, expr)
				continue
			}
			selectors := 0
			parser.Inspect(ast, func(node parser.Node, _ []parser.Node) error {
				vs, ok := node.(*parser.VectorSelector)
				if !ok {
					return nil
				}
				selectors++
				if msg := checkSelector(vs, ingest); msg != "" {
					t.Errorf("%s %q %s: %s: %s", q.Dashboard, q.Panel, q.RefID, vs, msg)
				}
				return nil
			})
			if selectors == 0 {
				t.Errorf("%s %q %s selects no series: %s", q.Dashboard, q.Panel, q.RefID, expr)
			}
		}
	}
	if n < 80 {
		t.Errorf("%d Prometheus queries, want the dashboards' worth", n)
	}
}

// checkSelector says what is wrong with a selector, or "".
func checkSelector(vs *parser.VectorSelector, ingest map[string]selfmetrics.Metric) string {
	name := vs.Name
	var extra []string // labels the series has beside the family's
	f, ok := metrics.Lookup(name)
	if !ok {
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			base, cut := strings.CutSuffix(name, suffix)
			if !cut {
				continue
			}
			if bf, found := metrics.Lookup(base); found && (bf.Type == metrics.Histogram || bf.Type == metrics.Summary) {
				f, ok = bf, true
				if suffix == "_bucket" {
					extra = append(extra, "le")
				}
			}
		}
	}
	if !ok {
		if _, found := ingest[strings.TrimSuffix(name, "_bucket")]; found {
			return ""
		}
		return "not a catalog family nor an ingester metric"
	}
	if f.Type == metrics.Summary && name == f.Name {
		extra = append(extra, "quantile")
	}
	matched := map[string]bool{}
	for _, m := range vs.LabelMatchers {
		if m.Name == "__name__" {
			continue
		}
		matched[m.Name] = true
		if !slices.Contains(f.Labels, m.Name) && !slices.Contains(extra, m.Name) {
			return "matches label " + m.Name + ", which " + f.Name + " does not have"
		}
	}
	for _, l := range []string{metrics.LabelWindow, metrics.LabelServiceLine, metrics.LabelLocation} {
		if slices.Contains(f.Labels, l) && !matched[l] {
			return "not filtered by " + l
		}
	}
	return ""
}

// TestRatiosUseCatalogDenominators: every ratio panel divides a numerator by
// the denominator the catalog declares for it.
func TestRatiosUseCatalogDenominators(t *testing.T) {
	qs, err := Queries(build(t))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, q := range qs {
		for _, f := range metrics.Catalog {
			if f.Ratio == nil || !strings.Contains(q.Expr, f.Name+"{") {
				continue
			}
			seen[f.Name] = true
			if den := f.Ratio.Denominator.Name; strings.Contains(q.Expr, " / (") && !strings.Contains(q.Expr, den+"{") {
				t.Errorf("%s %q divides %s by something other than %s: %s", q.Dashboard, q.Panel, f.Name, den, q.Expr)
			}
		}
	}
	for _, f := range metrics.Catalog {
		if f.Ratio != nil && !seen[f.Name] {
			t.Errorf("no panel shows the ratio of %s", f.Name)
		}
	}
}
