package metrics

import (
	"math"
	"strconv"
	"strings"
)

// SumBy is PromQL's sum by (labels) (expr); without labels, sum(expr).
func SumBy(by []string, expr string) string {
	if len(by) == 0 {
		return "sum(" + expr + ")"
	}
	return "sum by (" + strings.Join(by, ", ") + ") (" + expr + ")"
}

// RatioExpr is the PromQL of the ratio f is the numerator of (f.Ratio must be
// set): f and its
// denominator summed by the same labels, then divided, where a zero
// denominator gives no value rather than NaN or +Inf. sel writes a family's
// selector (its name, or with the matchers and offset a panel needs); div is
// the division with its spacing: " / " on one line, "\n/\n" for a rule file
// that puts each operand on its own line. The recording rules and the
// dashboards' ratio panels both divide with it.
func RatioExpr(f Family, by []string, sel func(Family) string, div string) string {
	return SumBy(by, sel(f)) + div + "(" + SumBy(by, sel(f.Ratio.Denominator)) + " > 0)"
}

// Percent formats a ratio as a percentage without float noise (0.07 → 7%,
// not 7.000000000000001%), for the targets that panels and alerts state.
func Percent(v float64) string {
	return strconv.FormatFloat(math.Round(v*1e6)/1e4, 'f', -1, 64) + "%"
}
