package report

import (
	"math"
)

// The report's content, independent of the output format: sections of
// paragraphs, tables and charts, each section ending in footnotes that name the
// KPIS.md definitions behind its numbers. WriteHTML and WritePDF draw it.

type document struct {
	Title    string
	Subtitle string
	Sections []section
}

type section struct {
	Title  string
	Blocks []block
	// Notes are the footnotes: the KPIS.md KPI behind each number.
	Notes []string
}

// block is one of a paragraph, a table or a chart.
type block struct {
	Text  string
	Table *table
	Chart *chart
}

type table struct {
	Header []string
	Rows   [][]cell
	// Aligns has a letter per column, l (text) or r (numbers); empty: the
	// first column l, the rest r.
	Aligns string
}

// Align is column i's alignment, "l" or "r".
func (t table) Align(i int) string {
	if t.Aligns == "" {
		if i == 0 {
			return "l"
		}
		return "r"
	}
	return t.Aligns[i : i+1]
}

// cell is a table cell; Tone colours it ("good", "bad" or "").
type cell struct {
	Text string
	Tone string
}

// chart is a line chart (one line per series over XLabels) or, with Bars, a
// bar chart (one bar per XLabel, the first series' values).
type chart struct {
	Title  string
	YLabel string // the axis' quantity and unit, e.g. "referrals per 30 days"
	XLabel string
	Bars   bool
	// Percent draws the values (ratios 0..1) as percentages.
	Percent bool
	XLabels []string
	Series  []series
	// Target draws a dashed horizontal line at this value with its label.
	Target      *float64
	TargetLabel string
}

type series struct {
	Name   string
	Values []float64 // NaN: no value (an empty denominator)
}

// palette is Tableau's 10 colours, distinguishable in print and for most
// colour-blind readers, and two darker ones for a twelfth service line;
// series take them in order.
var palette = []string{"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
	"#9c755f", "#bab0ac", "#1f3b5a", "#7a5c00"}

// scale is a chart's value axis: from Min to Max with Ticks.
type scale struct {
	Min, Max float64
	Ticks    []float64
}

// axis picks a value axis from 0 (every quantity here is a count, a duration
// or a ratio) to a round maximum above every value and the target.
func (c chart) axis() scale {
	top := 0.0
	for _, s := range c.Series {
		for _, v := range s.Values {
			if !math.IsNaN(v) {
				top = max(top, v)
			}
		}
	}
	if c.Target != nil {
		top = max(top, *c.Target)
	}
	if top <= 0 {
		top = 1
	}
	// a step of 1, 2 or 5 times a power of ten giving at most 5 intervals
	raw := top / 5
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	step := p
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			step = m * p
			break
		}
	}
	sc := scale{Min: 0, Max: math.Ceil(top/step-1e-9) * step}
	for v := 0.0; v <= sc.Max+step/2; v += step {
		sc.Ticks = append(sc.Ticks, v)
	}
	return sc
}

// valueLabel formats a bar's value: percentages with one decimal, as the
// tables show them.
func (c chart) valueLabel(v float64) string {
	if c.Percent {
		return formatFloat(100*v, 1) + "%"
	}
	return c.label(v)
}

// label formats an axis tick in the chart's unit.
func (c chart) label(v float64) string {
	if c.Percent {
		v *= 100
		if math.Abs(v-math.Round(v)) < 1e-9 {
			return formatFloat(v, 0) + "%"
		}
		return formatFloat(v, 1) + "%"
	}
	if v == math.Trunc(v) {
		return formatFloat(v, 0)
	}
	return formatFloat(v, 1)
}
