package dashboards

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/referralops/referralops/ingest"
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/metrics"
)

// family looks a KPI or exporter family up in the catalog; a missing one is a
// generation error, so a renamed metric cannot leave a dead panel.
func (g *generator) family(name string) metrics.Family {
	f, ok := metrics.Lookup(name)
	if !ok {
		g.errorf("metric %s is not in metrics.Catalog", name)
		return metrics.Family{Name: name}
	}
	return f
}

// ingestMetric checks that the ingester registers a metric of that name and
// returns the name; help is its help text.
func (g *generator) ingestMetric(name string) (string, string) {
	help, ok := g.ingest[name]
	if !ok {
		g.errorf("metric %s is not registered by package ingest", name)
	}
	return name, help
}

// ingestMetricHelp reads the names and help of the ingester's self-metrics
// from the collectors ingest.New registers, without running anything.
func ingestMetricHelp() (map[string]string, error) {
	reg := &describer{help: map[string]string{}}
	ingest.New(ingest.DefaultConfig(), broker.DefaultConfig(), nil, nil, nil,
		slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	if reg.err != nil {
		return nil, reg.err
	}
	return reg.help, nil
}

// describer is a prometheus.Registerer that only records descriptors.
type describer struct {
	help map[string]string
	err  error
}

func (d *describer) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	for desc := range ch {
		name, help, err := parseDesc(desc.String())
		if err != nil && d.err == nil {
			d.err = err
		}
		d.help[name] = help
	}
	return nil
}

func (d *describer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = d.Register(c)
	}
}

func (d *describer) Unregister(prometheus.Collector) bool { return false }

// parseDesc reads fqName and help from a Desc's String form,
// `Desc{fqName: "…", help: "…", …}` (both Go-quoted).
func parseDesc(s string) (name, help string, err error) {
	rest, ok := strings.CutPrefix(s, `Desc{fqName: `)
	if !ok {
		return "", "", fmt.Errorf("unexpected metric descriptor %q", s)
	}
	q, err := strconv.QuotedPrefix(rest)
	if err != nil {
		return "", "", fmt.Errorf("metric descriptor %q: %w", s, err)
	}
	name, _ = strconv.Unquote(q)
	rest, ok = strings.CutPrefix(rest[len(q):], `, help: `)
	if !ok {
		return "", "", fmt.Errorf("unexpected metric descriptor %q", s)
	}
	if q, err = strconv.QuotedPrefix(rest); err != nil {
		return "", "", fmt.Errorf("metric descriptor %q: %w", s, err)
	}
	help, _ = strconv.Unquote(q)
	return name, help, nil
}
