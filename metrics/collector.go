package metrics

import (
	"cmp"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/referralops/referralops/metrics/kpi"
)

// Collector serves the KPI families of the last snapshot given to Update, as
// const metrics (prometheus/client_golang's example_clustermanager_test.go
// pattern); before the first Update it serves nothing.
//
// Update builds the metrics once and also gathers them once, so the exporter
// can serve a scrape from the gathered families (Exporter.Gatherer) without
// re-validating and re-sorting thousands of unchanged series each time: a
// scrape then costs encoding only, whatever ClickHouse is doing.
type Collector struct {
	cfg     Config
	descs   map[string]*prometheus.Desc
	current atomic.Pointer[built]
}

var (
	_ prometheus.Collector = (*Collector)(nil)
	_ prometheus.Gatherer  = (*Collector)(nil)
)

// NewCollector uses cfg's location and series-cap settings.
func NewCollector(cfg Config) *Collector {
	c := &Collector{cfg: cfg, descs: map[string]*prometheus.Desc{}}
	for _, f := range Catalog {
		if f.Kind != KindExporter {
			c.descs[f.Name] = prometheus.NewDesc(f.Name, f.Help, f.Labels, nil)
		}
	}
	return c
}

// Describe sends every KPI family's descriptor, whether or not the current
// snapshot has series of it, so a registry checks each metric sent.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range Catalog {
		if d := c.descs[f.Name]; d != nil {
			ch <- d
		}
	}
}

// Collect sends the current snapshot's metrics. It may run concurrently with
// Update and with other scrapes: the set it sends is never modified.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	if b := c.current.Load(); b != nil {
		for _, m := range b.metrics {
			ch <- m
		}
	}
}

// Gather returns the current snapshot's families as gathered by Update; they
// are shared by every caller and must not be modified.
func (c *Collector) Gather() ([]*dto.MetricFamily, error) {
	if b := c.current.Load(); b != nil {
		return b.families, nil
	}
	return nil, nil
}

// Update builds s's metrics, checks them through a pedantic registry, and
// serves them from now on. On error the previous snapshot stays.
func (c *Collector) Update(s kpi.Snapshot) (Stats, error) {
	b := c.build(s)
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(snapshotCollector{c, b}); err != nil {
		return Stats{}, err
	}
	families, err := reg.Gather()
	if err != nil {
		return Stats{}, fmt.Errorf("kpi metrics of the snapshot as of %s: %w", s.AsOf.Format(time.RFC3339), err)
	}
	b.families = families
	c.current.Store(b)
	return b.stats, nil
}

// HasSnapshot reports whether an Update has succeeded.
func (c *Collector) HasSnapshot() bool { return c.current.Load() != nil }

// snapshotCollector collects one built snapshot, for Update's one gathering.
type snapshotCollector struct {
	c *Collector
	b *built
}

func (sc snapshotCollector) Describe(ch chan<- *prometheus.Desc) { sc.c.Describe(ch) }

func (sc snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range sc.b.metrics {
		ch <- m
	}
}

// mergeGathered joins families with disjoint names in name order, as a
// registry returns them.
func mergeGathered(a, b []*dto.MetricFamily) ([]*dto.MetricFamily, error) {
	out := slices.Concat(a, b)
	slices.SortFunc(out, func(x, y *dto.MetricFamily) int { return cmp.Compare(x.GetName(), y.GetName()) })
	for i := 1; i < len(out); i++ {
		if out[i].GetName() == out[i-1].GetName() {
			return nil, fmt.Errorf("metric family %s is served twice", out[i].GetName())
		}
	}
	return out, nil
}
