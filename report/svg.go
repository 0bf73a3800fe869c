package report

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// Chart geometry shared by the SVG (HTML) and the PDF renderers, in points
// (SVG user units): the plot area inside the chart's box, leaving room for the
// title, the axis labels and, on line charts, the legend on the right.
type frame struct {
	W, H                     float64
	Left, Right, Top, Bottom float64 // plot area
	LegendX                  float64
	Sc                       scale
	BarLabelsRotated         bool
}

func (c chart) frame(w float64) frame {
	f := frame{W: w, H: 250, Left: 58, Top: 34, Sc: c.axis()}
	f.Right = w - 14
	if !c.Bars {
		f.Right = w - 150
		f.LegendX = f.Right + 14
	}
	f.Bottom = f.H - 44
	if c.Bars {
		for _, l := range c.XLabels {
			if float64(len(l))*5.5 > (f.Right-f.Left)/float64(max(1, len(c.XLabels))) {
				f.BarLabelsRotated = true
			}
		}
		if f.BarLabelsRotated {
			f.H += 40
			f.Bottom = f.H - 84
		}
	}
	return f
}

// y is the vertical position of value v.
func (f frame) y(v float64) float64 {
	return f.Bottom - (v-f.Sc.Min)/(f.Sc.Max-f.Sc.Min)*(f.Bottom-f.Top)
}

// x is the horizontal position of point i of n: line points span the plot
// area; bars sit in the middle of n equal slots.
func (f frame) x(i, n int, bars bool) float64 {
	if bars {
		slot := (f.Right - f.Left) / float64(n)
		return f.Left + slot*(float64(i)+0.5)
	}
	if n == 1 {
		return (f.Left + f.Right) / 2
	}
	return f.Left + (f.Right-f.Left)*float64(i)/float64(n-1)
}

// xLabelEvery thins the x labels of a line chart so they do not overlap.
func (f frame) xLabelEvery(n int) int {
	every := 1
	for float64(n)/float64(every)*46 > f.Right-f.Left {
		every++
	}
	return every
}

func num(v float64) string { return formatFloat(v, 1) }

// svg draws the chart as an inline SVG element.
func (c chart) svg() string {
	f := c.frame(720)
	var b strings.Builder
	e := html.EscapeString
	fmt.Fprintf(&b, `<svg viewBox="0 0 %s %s" width="100%%" role="img" aria-label="%s">`, num(f.W), num(f.H), e(c.Title))
	fmt.Fprintf(&b, `<text x="%s" y="16" class="ct">%s</text>`, num(f.Left-50), e(c.Title))
	// value axis: grid lines and tick labels
	for _, t := range f.Sc.Ticks {
		y := f.y(t)
		fmt.Fprintf(&b, `<line x1="%s" x2="%s" y1="%s" y2="%s" class="grid"/>`, num(f.Left), num(f.Right), num(y), num(y))
		fmt.Fprintf(&b, `<text x="%s" y="%s" class="tick" text-anchor="end">%s</text>`, num(f.Left-6), num(y+3.5), e(c.label(t)))
	}
	mid := (f.Top + f.Bottom) / 2
	fmt.Fprintf(&b, `<text transform="translate(12 %s) rotate(-90)" class="axis" text-anchor="middle">%s</text>`, num(mid), e(c.YLabel))
	fmt.Fprintf(&b, `<line x1="%s" x2="%s" y1="%s" y2="%s" class="base"/>`, num(f.Left), num(f.Right), num(f.Bottom), num(f.Bottom))
	n := len(c.XLabels)
	every := f.xLabelEvery(n)
	for i, l := range c.XLabels {
		x := f.x(i, n, c.Bars)
		switch {
		case c.Bars && f.BarLabelsRotated:
			fmt.Fprintf(&b, `<text transform="translate(%s %s) rotate(-35)" class="tick" text-anchor="end">%s</text>`, num(x+3), num(f.Bottom+12), e(l))
		case c.Bars || i%every == 0 || i == n-1 && (n-1)%every == 0:
			fmt.Fprintf(&b, `<text x="%s" y="%s" class="tick" text-anchor="middle">%s</text>`, num(x), num(f.Bottom+14), e(l))
		}
	}
	fmt.Fprintf(&b, `<text x="%s" y="%s" class="axis" text-anchor="middle">%s</text>`, num((f.Left+f.Right)/2), num(f.H-6), e(c.XLabel))
	if c.Bars {
		slot := (f.Right - f.Left) / float64(max(1, n))
		for i, v := range c.Series[0].Values {
			if math.IsNaN(v) {
				fmt.Fprintf(&b, `<text x="%s" y="%s" class="tick" text-anchor="middle">n/a</text>`, num(f.x(i, n, true)), num(f.Bottom-4))
				continue
			}
			x, y := f.x(i, n, true)-slot*0.3, f.y(v)
			fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"/>`, num(x), num(y), num(slot*0.6), num(f.Bottom-y), palette[0])
			fmt.Fprintf(&b, `<text x="%s" y="%s" class="val" text-anchor="middle">%s</text>`, num(f.x(i, n, true)), num(y-3), e(c.valueLabel(v)))
		}
	} else {
		for si, s := range c.Series {
			col := palette[si%len(palette)]
			var d strings.Builder
			pen := false
			for i, v := range s.Values {
				if math.IsNaN(v) {
					pen = false
					continue
				}
				cmd := "L"
				if !pen {
					cmd = "M"
				}
				fmt.Fprintf(&d, "%s%s %s ", cmd, num(f.x(i, n, false)), num(f.y(v)))
				pen = true
				fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="2.2" fill="%s"/>`, num(f.x(i, n, false)), num(f.y(v)), col)
			}
			fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="1.8"/>`, strings.TrimSpace(d.String()), col)
			ly := f.Top + 4 + float64(si)*15
			fmt.Fprintf(&b, `<line x1="%s" x2="%s" y1="%s" y2="%s" stroke="%s" stroke-width="3"/>`, num(f.LegendX), num(f.LegendX+14), num(ly), num(ly), col)
			fmt.Fprintf(&b, `<text x="%s" y="%s" class="tick">%s</text>`, num(f.LegendX+19), num(ly+3.5), e(s.Name))
		}
	}
	if c.Target != nil {
		y := f.y(*c.Target)
		fmt.Fprintf(&b, `<line x1="%s" x2="%s" y1="%s" y2="%s" class="target"/>`, num(f.Left), num(f.Right), num(y), num(y))
		// the key at the top right, clear of the bars' and lines' labels
		fmt.Fprintf(&b, `<line x1="%s" x2="%s" y1="12" y2="12" class="target"/>`, num(f.Right-150), num(f.Right-128))
		fmt.Fprintf(&b, `<text x="%s" y="16" class="tgt">%s</text>`, num(f.Right-124), e(c.TargetLabel))
	}
	b.WriteString(`</svg>`)
	return b.String()
}
