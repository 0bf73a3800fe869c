// Package report builds the weekly executive report of `referralops report`
// from ClickHouse as of a time T: the headline KPIs against their targets with
// the change since T − 7 d, 13-week trends per service line (each point an
// exact as-of replay through package metrics/kpi, the evaluation `referralops
// kpi` prints), leakage by source, the closed loop, the top of the liaison
// worklist (KPIS.md "Referrer attention") and the pipeline's data freshness.
//
// Build gathers the numbers (Report); WriteHTML renders one self-contained HTML
// file (inline CSS and SVG charts, no scripts, no network) and WritePDF the
// same content as an A4 PDF drawn with github.com/go-pdf/fpdf, so no browser
// is needed at run time. Both renderers draw the same sections and charts
// (sections.go), so the two outputs cannot drift apart. docs/report.md says
// why these libraries.
//
// It does not schedule itself (the command's --every does), send mail, or
// read Prometheus: every number comes from the KPI SQL as of a time.
package report
