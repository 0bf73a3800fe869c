package metrics

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/referralops/referralops/metrics/kpi"
)

// Stats describes the series built from one snapshot.
type Stats struct {
	// Series served, by family name.
	Series map[string]int
	// Dropped by the per-family cap (or for a label value that is not UTF-8),
	// by family name.
	Dropped map[string]int
}

// built is one snapshot's const metrics: built once per refresh and served
// as they are by every scrape (const metrics are immutable).
type built struct {
	metrics  []prometheus.Metric
	families []*dto.MetricFamily // metrics as gathered once by Update
	stats    Stats
}

// entry is one series being assembled: gauges sum (locations folded into
// "other" add up), distributions are taken as they are.
type entry struct {
	labels []string
	value  float64
	dist   kpi.Distribution
}

// familySeries collects one family's series by label values.
type familySeries struct {
	family  *Family
	desc    *prometheus.Desc
	entries map[string]*entry
}

func (fs *familySeries) get(labels []string) *entry {
	key := strings.Join(labels, "\xff")
	e := fs.entries[key]
	if e == nil {
		e = &entry{labels: labels}
		fs.entries[key] = e
	}
	return e
}

func (fs *familySeries) add(v int64, labels ...string) { fs.get(labels).value += float64(v) }

// build turns a snapshot into const metrics. Within a family, series are in
// label order and the cap keeps the first ones, so what is dropped is stable
// from one refresh to the next.
func (c *Collector) build(s kpi.Snapshot) *built {
	families := make(map[Kind][]*familySeries)
	var order []*familySeries
	for i := range Catalog {
		f := &Catalog[i]
		if f.Kind == KindExporter {
			continue
		}
		fs := &familySeries{family: f, desc: c.descs[f.Name], entries: map[string]*entry{}}
		families[f.Kind] = append(families[f.Kind], fs)
		order = append(order, fs)
	}
	location := locationLabels(s, c.cfg.Locations, c.cfg.LocationsTop)
	distributions := slices.Concat(families[KindHistogram], families[KindQuantiles])

	for _, w := range s.Windows {
		window := w.Window.String()
		for _, g := range groupsOf(w, kpi.ServiceLine, kpi.Location) {
			line, loc := g.Labels[0].Value, location(g.Labels[1].Value)
			for _, fs := range families[KindCohort] {
				fs.add(fs.family.Count(g.Fields), window, line, loc)
			}
		}
		for _, g := range groupsOf(w, kpi.ServiceLine, kpi.ReferrerType, kpi.ReferrerNetwork) {
			for _, fs := range families[KindSource] {
				fs.add(fs.family.Count(g.Fields), window, g.Labels[0].Value, g.Labels[1].Value, g.Labels[2].Value)
			}
		}
		for _, line := range s.ServiceLines {
			f := w.ByServiceLine[line]
			for _, fs := range distributions {
				fs.get([]string{window, line}).dist = fs.family.Distribution(f)
			}
		}
		for _, fs := range families[KindLeakedBy] {
			counts := fs.family.By(w.Totals)
			for _, v := range fs.family.Values {
				fs.add(counts[v], window, v)
			}
		}
		for _, fs := range families[KindSiteHistogram] {
			fs.get([]string{window}).dist = fs.family.Distribution(w.Totals)
		}
		for p, f := range w.ByPriority {
			for _, fs := range families[KindPriorityHistogram] {
				fs.get([]string{window, p}).dist = fs.family.Distribution(f)
			}
		}
		for _, g := range groupsOf(w, kpi.ServiceLine, kpi.Priority) {
			line, p := g.Labels[0].Value, g.Labels[1].Value
			for _, fs := range families[KindPriority] {
				fs.add(fs.family.Count(g.Fields), window, line, p)
			}
			for _, fs := range families[KindPriorityQuantiles] {
				fs.get([]string{window, line, p}).dist = fs.family.Distribution(g.Fields)
			}
		}
	}
	// The backlog has no window: every window carries the same.
	if len(s.Windows) > 0 {
		for _, g := range groupsOf(s.Windows[0], kpi.ServiceLine, kpi.Location) {
			line, loc := g.Labels[0].Value, location(g.Labels[1].Value)
			for i, n := range g.Fields.Backlog.Counts() {
				for _, fs := range families[KindBacklog] {
					fs.add(n, line, loc, kpi.BacklogBuckets[i])
				}
			}
		}
	}
	for typ, st := range s.Referrers.ByType {
		for _, fs := range families[KindReferrers] {
			fs.add(st.New, typ, "new")
			fs.add(st.Active, typ, "active")
			fs.add(st.Fading, typ, "fading")
			fs.add(st.Inactive, typ, "inactive")
		}
	}

	for typ, l := range s.Attention.ByType {
		for i, n := range l.Counts() {
			for _, fs := range families[KindAttention] {
				fs.add(n, typ, kpi.Levels[i])
			}
		}
	}

	b := &built{stats: Stats{Series: map[string]int{}, Dropped: map[string]int{}}}
	for _, fs := range order {
		n := 0
		for _, key := range slices.Sorted(maps.Keys(fs.entries)) {
			m, err := fs.metric(fs.entries[key], s.Buckets)
			if m == nil && err == nil {
				continue // an empty distribution has no quantiles
			}
			// A label value that is not valid UTF-8 is left out like a series
			// over the cap, rather than failing the whole snapshot.
			if err != nil || n >= c.cfg.MaxSeriesPerFamily {
				b.stats.Dropped[fs.family.Name]++
				continue
			}
			b.metrics = append(b.metrics, m)
			n++
		}
		b.stats.Series[fs.family.Name] = n
	}
	return b
}

// metric is the const metric of one series; nil if it has nothing to show.
func (fs *familySeries) metric(e *entry, bounds []time.Duration) (prometheus.Metric, error) {
	switch fs.family.Type {
	case Histogram:
		d := e.dist
		buckets := make(map[float64]uint64, len(bounds))
		for i, ub := range bounds {
			if i < len(d.Buckets) {
				buckets[ub.Seconds()] = uint64(d.Buckets[i])
			}
		}
		return prometheus.NewConstHistogram(fs.desc, uint64(d.Count), float64(d.Sum), buckets, e.labels...)
	case Summary:
		d := e.dist
		if d.Count == 0 || d.P50 == nil || d.P90 == nil {
			return nil, nil
		}
		q := map[float64]float64{0.5: float64(*d.P50), 0.9: float64(*d.P90)}
		return prometheus.NewConstSummary(fs.desc, uint64(d.Count), float64(d.Sum), q, e.labels...)
	case Gauge:
		return prometheus.NewConstMetric(fs.desc, prometheus.GaugeValue, e.value, e.labels...)
	}
	panic(fmt.Sprintf("metrics: family %s: type %s is not built from snapshots", fs.family.Name, fs.family.Type))
}
