package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Grafana units used by the panels.
const (
	unitRatio   = "percentunit" // 0..1 shown as a percentage
	unitCount   = "short"
	unitSeconds = "s"
	unitDays    = "suffix: days" // KPI durations are shown in days (seconds ÷ 86400)
	unitPerSec  = "suffix: /s"
)

// Datasource references of the panels: the dashboard's datasource variables.
var (
	promDS = common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${" + varPrometheus + "}")}
	chDS   = common.DataSourceRef{Type: cog.ToPtr(ClickHousePluginID), Uid: cog.ToPtr("${" + varClickHouse + "}")}
)

// spec is what every panel has: a title, a description saying exactly what the
// number means, a unit, a size, and optionally thresholds against a target.
type spec struct {
	title, desc string
	unit        string
	w, h        uint32
	// th colours values against a target; nil when the number has none.
	th cog.Builder[dashboard.ThresholdsConfig]
}

// promQuery is a Prometheus target: instant queries feed stats, tables and bar
// gauges; range queries feed time series.
func promQuery(ref, expr, legend string, instant bool) *prometheus.DataqueryBuilder {
	b := prometheus.NewDataqueryBuilder().RefId(ref).Expr(expr).Datasource(promDS)
	if legend != "" {
		b.LegendFormat(legend)
	}
	if instant {
		b.Instant().Format(prometheus.PromQueryFormatTable)
	} else {
		b.Range()
	}
	return b
}

// chQuery is a ClickHouse SQL target from an embedded .sql file.
func (g *generator) chQuery(ref, file string, timeSeries bool) cog.Builder[variants.Dataquery] {
	q := ClickHouseQuery{
		RefId: cog.ToPtr(ref), Datasource: &chDS, PluginVersion: ClickHousePluginVersion,
		EditorType: "sql", QueryType: ClickHouseQueryTypeTable, Format: ClickHouseFormatTable,
		RawSql: g.sql(file),
	}
	if timeSeries {
		q.QueryType, q.Format = ClickHouseQueryTypeTimeSeries, ClickHouseFormatTimeSeries
	}
	return &clickHouseQueryBuilder{q: q}
}

// above is green below the limit and red from it on (a maximum target).
func above(limit float64) cog.Builder[dashboard.ThresholdsConfig] {
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps([]dashboard.Threshold{
		{Color: "green"}, {Value: cog.ToPtr(limit), Color: "red"},
	})
}

// below is red below the limit and green from it on (a minimum target).
func below(limit float64) cog.Builder[dashboard.ThresholdsConfig] {
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps([]dashboard.Threshold{
		{Color: "red"}, {Value: cog.ToPtr(limit), Color: "green"},
	})
}

// plain has no target: one neutral colour.
func plain() cog.Builder[dashboard.ThresholdsConfig] {
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps([]dashboard.Threshold{
		{Color: "blue"},
	})
}

func thresholdsOr(th cog.Builder[dashboard.ThresholdsConfig]) cog.Builder[dashboard.ThresholdsConfig] {
	if th == nil {
		return plain()
	}
	return th
}

// statPanel is one big number (the last value of instant queries).
func (g *generator) statPanel(s spec, ds common.DataSourceRef, targets ...cog.Builder[variants.Dataquery]) *stat.PanelBuilder {
	b := stat.NewPanelBuilder().Id(g.id()).Title(s.title).Description(s.desc).Datasource(ds).
		Span(s.w).Height(s.h).Unit(s.unit).Thresholds(thresholdsOr(s.th)).
		ColorMode(common.BigValueColorModeValue).GraphMode(common.BigValueGraphModeNone).Orientation(common.VizOrientationAuto).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Values(false)).
		Targets(targets)
	if s.th == nil {
		b.ColorMode(common.BigValueColorModeNone)
	}
	return b
}

// timeSeriesPanel draws range queries; a target is a dashed threshold line.
func (g *generator) timeSeriesPanel(s spec, ds common.DataSourceRef, targets ...cog.Builder[variants.Dataquery]) *timeseries.PanelBuilder {
	b := timeseries.NewPanelBuilder().Id(g.id()).Title(s.title).Description(s.desc).Datasource(ds).
		Span(s.w).Height(s.h).Unit(s.unit).Thresholds(thresholdsOr(s.th)).
		ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdPaletteClassic)).
		Legend(common.NewVizLegendOptionsBuilder().ShowLegend(true).DisplayMode(common.LegendDisplayModeList).Placement(common.LegendPlacementBottom)).
		Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeMulti).Sort(common.SortOrderDescending)).
		Targets(targets)
	if s.th != nil {
		b.ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed))
	}
	return b
}

// stacked makes a time series panel stacked bars or areas of counts.
func stacked(b *timeseries.PanelBuilder) *timeseries.PanelBuilder {
	return b.Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)).FillOpacity(60).LineWidth(1)
}

// barGaugePanel shows one bar per series (instant queries).
func (g *generator) barGaugePanel(s spec, ds common.DataSourceRef, targets ...cog.Builder[variants.Dataquery]) *bargauge.PanelBuilder {
	b := bargauge.NewPanelBuilder().Id(g.id()).Title(s.title).Description(s.desc).Datasource(ds).
		Span(s.w).Height(s.h).Unit(s.unit).Thresholds(thresholdsOr(s.th)).Min(0).
		DisplayMode(common.BarGaugeDisplayModeBasic).Orientation(common.VizOrientationHorizontal).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Values(false)).
		Targets(targets)
	if s.th == nil {
		b.ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdPaletteClassic))
	}
	return b
}

// tablePanel lists rows; columns get units and thresholds through overrides.
func (g *generator) tablePanel(s spec, ds common.DataSourceRef, targets ...cog.Builder[variants.Dataquery]) *table.PanelBuilder {
	b := table.NewPanelBuilder().Id(g.id()).Title(s.title).Description(s.desc).Datasource(ds).
		Span(s.w).Height(s.h).Unit(s.unit).Thresholds(thresholdsOr(s.th)).
		Filterable(true).
		// The SDK's default footer has a null reducer, which its own strict
		// decoder rejects.
		Footer(common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{"sum"})).
		Targets(targets)
	return b
}

// column is a table column's display settings: its unit and, against a
// target, thresholds that colour the cell.
type column struct {
	name string
	unit string
	th   cog.Builder[dashboard.ThresholdsConfig]
}

// columns adds an override per column.
func (g *generator) columns(b *table.PanelBuilder, cols ...column) *table.PanelBuilder {
	for _, c := range cols {
		props := []dashboard.DynamicConfigValue{{Id: "unit", Value: c.unit}}
		if c.th != nil {
			th, err := c.th.Build()
			if err != nil {
				g.errorf("column %s thresholds: %v", c.name, err)
			}
			props = append(props,
				dashboard.DynamicConfigValue{Id: "thresholds", Value: th},
				dashboard.DynamicConfigValue{Id: "custom.cellOptions", Value: map[string]any{"type": string(common.TableCellDisplayModeColorText)}},
			)
		}
		b.OverrideByName(c.name, props)
	}
	return b
}

// mergeColumns joins instant table queries (one row per label set) into one
// table, drops the time column and names each query's value column.
func mergeColumns(b *table.PanelBuilder, names map[string]string) *table.PanelBuilder {
	rename := map[string]any{}
	for ref, name := range names {
		rename["Value #"+ref] = name
	}
	return b.
		WithTransformation(dashboard.DataTransformerConfig{Id: "merge", Options: map[string]any{}}).
		WithTransformation(dashboard.DataTransformerConfig{Id: "organize", Options: map[string]any{
			"excludeByName": map[string]any{"Time": true},
			"renameByName":  rename,
		}})
}
