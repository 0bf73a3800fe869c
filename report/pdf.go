package report

import (
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/go-pdf/fpdf"
)

// WritePDF writes the report as an A4 PDF: the same sections, tables and
// charts as the HTML, drawn with fpdf's vector primitives and its built-in
// Helvetica (no font files, no browser).
func (r Report) WritePDF(w io.Writer) error {
	p := &pdfWriter{pdf: fpdf.New("P", "pt", "A4", "")}
	p.tr = p.pdf.UnicodeTranslatorFromDescriptor("") // UTF-8 to the core fonts' cp1252
	pageW, pageH := p.pdf.GetPageSize()
	p.margin = 40
	p.width, p.bottom = pageW-2*p.margin, pageH-p.margin
	p.pdf.SetMargins(p.margin, p.margin, p.margin)
	p.pdf.SetAutoPageBreak(true, p.margin)
	d := r.document()
	p.pdf.SetTitle(d.Title, true)
	p.pdf.SetCreator("referralops report", true)
	p.pdf.SetFooterFunc(func() {
		p.pdf.SetY(pageH - 28)
		p.font("", 8, "#55606e")
		p.pdf.CellFormat(0, 10, p.tr(d.Title+" - page "+strconv.Itoa(p.pdf.PageNo())), "", 0, "C", false, 0, "")
	})
	p.pdf.AddPage()
	p.font("B", 18, "#1d2733")
	p.pdf.MultiCell(0, 22, p.tr(d.Title), "", "L", false)
	p.font("", 9.5, "#55606e")
	p.pdf.MultiCell(0, 12, p.tr(d.Subtitle), "", "L", false)
	for i, s := range d.Sections {
		p.section(i+1, s)
	}
	return p.pdf.Output(w)
}

type pdfWriter struct {
	pdf                   *fpdf.Fpdf
	tr                    func(string) string
	margin, width, bottom float64
}

func rgb(hex string) (int, int, int) {
	v, _ := strconv.ParseUint(hex[1:], 16, 32)
	return int(v >> 16 & 0xff), int(v >> 8 & 0xff), int(v & 0xff)
}

func (p *pdfWriter) font(style string, size float64, color string) {
	p.pdf.SetFont("Helvetica", style, size)
	p.pdf.SetTextColor(rgb(color))
}

// room starts a new page unless h points fit below the current position.
func (p *pdfWriter) room(h float64) {
	if p.pdf.GetY()+h > p.bottom {
		p.pdf.AddPage()
	}
}

func (p *pdfWriter) section(n int, s section) {
	// the title stays with the section's first chart or table
	need := 40.0
	for _, b := range s.Blocks {
		if b.Chart != nil {
			need += b.Chart.frame(p.width).H
			break
		}
		if b.Table != nil {
			// the whole table, as table keeps one that fits on a page (at
			// most its largest font's rows), yet no more than half a page
			need += min((tableFont+5)*float64(len(b.Table.Rows)+1), (p.bottom-p.margin)/2)
			break
		}
		need += 30
	}
	p.room(need)
	p.pdf.Ln(10)
	p.font("B", 13, "#1d2733")
	p.pdf.CellFormat(0, 18, p.tr(strconv.Itoa(n)+". "+s.Title), "", 1, "L", false, 0, "")
	y := p.pdf.GetY()
	p.pdf.SetDrawColor(rgb(palette[0]))
	p.pdf.SetLineWidth(1.5)
	p.pdf.Line(p.margin, y, p.margin+p.width, y)
	p.pdf.Ln(5)
	for _, b := range s.Blocks {
		switch {
		case b.Text != "":
			p.font("", 9.5, "#1d2733")
			p.pdf.MultiCell(0, 12.5, p.tr(b.Text), "", "L", false)
			p.pdf.Ln(3)
		case b.Chart != nil:
			p.chart(*b.Chart)
		case b.Table != nil:
			p.table(*b.Table)
		}
	}
	p.font("", 7.5, "#55606e")
	for i, note := range s.Notes {
		p.pdf.MultiCell(0, 9.5, p.tr(strconv.Itoa(i+1)+". "+note), "", "L", false)
	}
}

// tableFont is the font size of a table that fits the page width.
const tableFont = 8.5

// table sizes its columns to their widest cell and shrinks the font until the
// table fits the page width.
func (p *pdfWriter) table(t table) {
	size := tableFont
	var widths []float64
	for ; size >= 5.5; size -= 0.5 {
		widths = make([]float64, len(t.Header))
		p.pdf.SetFont("Helvetica", "B", size)
		for i, h := range t.Header {
			widths[i] = p.pdf.GetStringWidth(p.tr(h)) + 8
		}
		p.pdf.SetFont("Helvetica", "", size)
		for _, r := range t.Rows {
			for i, c := range r {
				widths[i] = max(widths[i], p.pdf.GetStringWidth(p.tr(c.Text))+8)
			}
		}
		total := 0.0
		for _, w := range widths {
			total += w
		}
		if total <= p.width {
			widths[0] += p.width - total // the first column takes the slack
			break
		}
	}
	rowH := size + 5
	// a table that fits on a page is not split
	if h := rowH * float64(len(t.Rows)+1); h < p.bottom-p.margin {
		p.room(h)
	} else {
		p.room(rowH * 8)
	}
	p.pdf.SetDrawColor(217, 222, 229)
	p.pdf.SetLineWidth(0.5)
	p.pdf.SetFillColor(238, 242, 247)
	header := func() {
		p.font("B", size, "#1d2733")
		for i, h := range t.Header {
			p.pdf.CellFormat(widths[i], rowH, p.tr(h), "B", 0, strings.ToUpper(t.Align(i)), true, 0, "")
		}
		p.pdf.Ln(-1)
	}
	header()
	for _, r := range t.Rows {
		if p.pdf.GetY()+rowH > p.bottom {
			p.pdf.AddPage()
			header()
		}
		for i, c := range r {
			style, color := "", "#1d2733"
			switch c.Tone {
			case "good":
				style, color = "B", "#1b7a3a"
			case "bad":
				style, color = "B", "#b3261e"
			}
			p.font(style, size, color)
			p.pdf.CellFormat(widths[i], rowH, p.tr(c.Text), "B", 0, strings.ToUpper(t.Align(i)), false, 0, "")
		}
		p.pdf.Ln(-1)
	}
	p.pdf.Ln(6)
}

// chart draws the chart's frame (the SVG's geometry) at the current position.
func (p *pdfWriter) chart(c chart) {
	f := c.frame(p.width)
	p.room(f.H + 6)
	x0, y0 := p.margin, p.pdf.GetY()
	pdf := p.pdf
	at := func(x, y float64) (float64, float64) { return x0 + x, y0 + y }
	text := func(x, y float64, s string, anchor string) {
		s = p.tr(s)
		w := pdf.GetStringWidth(s)
		switch anchor {
		case "middle":
			x -= w / 2
		case "end":
			x -= w
		}
		pdf.Text(x0+x, y0+y, s)
	}
	line := func(x1, y1, x2, y2 float64) {
		ax, ay := at(x1, y1)
		bx, by := at(x2, y2)
		pdf.Line(ax, ay, bx, by)
	}
	p.font("B", 10.5, "#1d2733")
	text(f.Left-50, 16, c.Title, "")
	pdf.SetLineWidth(0.6)
	for _, t := range f.Sc.Ticks {
		pdf.SetDrawColor(227, 231, 237)
		line(f.Left, f.y(t), f.Right, f.y(t))
		p.font("", 7.5, "#3c4652")
		text(f.Left-6, f.y(t)+3, c.label(t), "end")
	}
	// the rotated value axis label
	p.font("", 8, "#3c4652")
	mid := (f.Top + f.Bottom) / 2
	label := p.tr(c.YLabel)
	pdf.TransformBegin()
	pdf.TransformRotate(90, x0+12, y0+mid)
	pdf.Text(x0+12-pdf.GetStringWidth(label)/2, y0+mid, label)
	pdf.TransformEnd()
	pdf.SetDrawColor(138, 148, 159)
	line(f.Left, f.Bottom, f.Right, f.Bottom)
	n := len(c.XLabels)
	every := f.xLabelEvery(n)
	p.font("", 7.5, "#3c4652")
	for i, l := range c.XLabels {
		x := f.x(i, n, c.Bars)
		switch {
		case c.Bars && f.BarLabelsRotated:
			s := p.tr(l)
			w := pdf.GetStringWidth(s)
			pdf.TransformBegin()
			pdf.TransformRotate(35, x0+x+3, y0+f.Bottom+12)
			pdf.Text(x0+x+3-w, y0+f.Bottom+12, s)
			pdf.TransformEnd()
		case c.Bars || i%every == 0 || i == n-1 && (n-1)%every == 0:
			text(x, f.Bottom+13, l, "middle")
		}
	}
	p.font("", 8, "#3c4652")
	text((f.Left+f.Right)/2, f.H-6, c.XLabel, "middle")
	if c.Bars {
		slot := (f.Right - f.Left) / float64(max(1, n))
		for i, v := range c.Series[0].Values {
			p.font("", 7, "#1d2733")
			if math.IsNaN(v) {
				text(f.x(i, n, true), f.Bottom-4, "n/a", "middle")
				continue
			}
			pdf.SetFillColor(rgb(palette[0]))
			x, y := at(f.x(i, n, true)-slot*0.3, f.y(v))
			pdf.Rect(x, y, slot*0.6, f.Bottom-f.y(v), "F")
			text(f.x(i, n, true), f.y(v)-3, c.valueLabel(v), "middle")
		}
	} else {
		for si, s := range c.Series {
			col := palette[si%len(palette)]
			pdf.SetDrawColor(rgb(col))
			pdf.SetFillColor(rgb(col))
			pdf.SetLineWidth(1.3)
			prev := -1
			for i, v := range s.Values {
				if math.IsNaN(v) {
					prev = -1
					continue
				}
				if prev >= 0 {
					line(f.x(prev, n, false), f.y(s.Values[prev]), f.x(i, n, false), f.y(v))
				}
				cx, cy := at(f.x(i, n, false), f.y(v))
				pdf.Circle(cx, cy, 1.6, "F")
				prev = i
			}
			ly := f.Top + 4 + float64(si)*12
			pdf.SetLineWidth(2.5)
			line(f.LegendX, ly, f.LegendX+12, ly)
			p.font("", 7.5, "#3c4652")
			text(f.LegendX+16, ly+2.5, s.Name, "")
		}
	}
	if c.Target != nil {
		pdf.SetDrawColor(179, 38, 30)
		pdf.SetLineWidth(1)
		pdf.SetDashPattern([]float64{4, 3}, 0)
		line(f.Left, f.y(*c.Target), f.Right, f.y(*c.Target))
		line(f.Right-150, 12, f.Right-128, 12) // the key, as in the SVG
		pdf.SetDashPattern([]float64{}, 0)
		p.font("", 7.5, "#b3261e")
		text(f.Right-124, 15, c.TargetLabel, "")
	}
	pdf.SetY(y0 + f.H + 6)
}
