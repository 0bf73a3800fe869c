package dashboards

import (
	"errors"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
)

// QueryKind says which datasource runs a panel query.
type QueryKind string

// The datasources of the panels.
const (
	KindPrometheus QueryKind = "prometheus"
	KindClickHouse QueryKind = "clickhouse"
)

// PanelQuery is one query of one panel, as the dashboard holds it: variables
// and (ClickHouse) macros not yet expanded. Run a Prometheus one after
// Substitute, a ClickHouse one after Substitute and ExpandMacros.
type PanelQuery struct {
	Dashboard string // dashboard uid
	Panel     string // panel title (unique within a dashboard)
	RefID     string
	Kind      QueryKind
	// Expr is the PromQL expression or the SQL statement.
	Expr string
	// Instant: a Prometheus instant query (stats, tables, bar gauges);
	// otherwise a range query over the dashboard's time range.
	Instant bool
	// TimeSeries: a ClickHouse query in the time series format (a time column,
	// string columns as labels); otherwise a table.
	TimeSeries bool
}

// Queries lists every panel query of the dashboards, in panel order.
func Queries(ds []Dashboard) ([]PanelQuery, error) {
	var out []PanelQuery
	var errs []error
	for _, d := range ds {
		for _, p := range panels(d.Model) {
			title := ""
			if p.Title != nil {
				title = *p.Title
			}
			for _, t := range p.Targets {
				q, err := panelQuery(t)
				if err != nil {
					errs = append(errs, fmt.Errorf("dashboard %s, panel %q: %w", d.UID, title, err))
					continue
				}
				q.Dashboard, q.Panel = d.UID, title
				out = append(out, q)
			}
		}
	}
	return out, errors.Join(errs...)
}

// panels lists a dashboard's panels, those inside collapsed rows included.
func panels(d dashboard.Dashboard) []dashboard.Panel {
	var ps []dashboard.Panel
	for _, p := range d.Panels {
		switch {
		case p.Panel != nil:
			ps = append(ps, *p.Panel)
		case p.RowPanel != nil:
			ps = append(ps, p.RowPanel.Panels...)
		}
	}
	return ps
}

func panelQuery(t variants.Dataquery) (PanelQuery, error) {
	ref := func(r *string) string {
		if r == nil {
			return ""
		}
		return *r
	}
	switch q := t.(type) {
	case prometheus.Dataquery:
		return PanelQuery{RefID: ref(q.RefId), Kind: KindPrometheus, Expr: q.Expr, Instant: q.Instant != nil && *q.Instant}, nil
	case *prometheus.Dataquery:
		return panelQuery(*q)
	case ClickHouseQuery:
		return PanelQuery{RefID: ref(q.RefId), Kind: KindClickHouse, Expr: q.RawSql, TimeSeries: q.Format == ClickHouseFormatTimeSeries}, nil
	case *ClickHouseQuery:
		return panelQuery(*q)
	}
	return PanelQuery{}, fmt.Errorf("query of unknown type %T", t)
}
