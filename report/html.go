package report

import (
	"html/template"
	"io"
)

// page is the HTML report: one file, inline CSS and SVG, no script and no
// reference to anything outside it, printable on A4. Its Content-Security-Policy
// forbids every fetch, so a browser would refuse (and log) one slipped in.
var page = template.Must(template.New("report").Funcs(template.FuncMap{
	// svg marks a chart's SVG (built with every text escaped) as safe.
	"svg": func(c *chart) template.HTML { return template.HTML(c.svg()) },
	"inc": func(i int) int { return i + 1 },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{{.Title}}</title>
<style>
@page { size: A4; margin: 14mm; }
body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; color: #1d2733; margin: 0 auto; max-width: 820px; padding: 16px 20px; font-size: 13px; line-height: 1.45; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 26px 0 8px; padding-bottom: 3px; border-bottom: 2px solid #4e79a7; break-after: avoid; }
.sub { color: #55606e; margin: 0 0 8px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 10px; font-size: 11.5px; break-inside: avoid; }
th, td { padding: 3px 5px; border-bottom: 1px solid #d9dee5; white-space: nowrap; }
th { background: #eef2f7; font-weight: 600; white-space: normal; vertical-align: bottom; }
.l { text-align: left; }
.r { text-align: right; font-variant-numeric: tabular-nums; }
td.good { color: #1b7a3a; font-weight: 600; }
td.bad { color: #b3261e; font-weight: 600; }
.chart { margin: 10px 0; break-inside: avoid; }
svg text { font-family: inherit; }
svg .ct { font-size: 14px; font-weight: 600; fill: #1d2733; }
svg .tick { font-size: 10.5px; fill: #3c4652; }
svg .axis { font-size: 11px; fill: #3c4652; }
svg .val { font-size: 10px; fill: #1d2733; }
svg .tgt { font-size: 10.5px; fill: #b3261e; }
svg .grid { stroke: #e3e7ed; stroke-width: 1; }
svg .base { stroke: #8a949f; stroke-width: 1; }
svg .target { stroke: #b3261e; stroke-width: 1.3; stroke-dasharray: 5 4; }
ol.notes { color: #55606e; font-size: 11px; padding-left: 18px; margin: 4px 0 0; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p class="sub">{{.Subtitle}}</p>
{{range $si, $s := .Sections}}
<section>
<h2>{{inc $si}}. {{$s.Title}}</h2>
{{range $s.Blocks}}
{{- if .Text}}<p>{{.Text}}</p>{{end}}
{{- with .Chart}}<figure class="chart">{{svg .}}</figure>{{end}}
{{- with $t := .Table}}<table>
<thead><tr>{{range $i, $h := .Header}}<th class="{{$t.Align $i}}">{{$h}}</th>{{end}}</tr></thead>
<tbody>{{range .Rows}}
<tr>{{range $i, $c := .}}<td class="{{$t.Align $i}}{{with $c.Tone}} {{.}}{{end}}">{{$c.Text}}</td>{{end}}</tr>{{end}}
</tbody>
</table>{{end}}
{{end}}
<ol class="notes">{{range $s.Notes}}<li>{{.}}</li>{{end}}</ol>
</section>
{{end}}
</body>
</html>
`))

// WriteHTML writes the report as one self-contained HTML file.
func (r Report) WriteHTML(w io.Writer) error {
	return page.Execute(w, r.document())
}
