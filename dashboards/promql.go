package dashboards

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/metrics/kpi"
)

// q is a family's series selector restricted by the dashboard variables its
// labels carry ($window, $service_line, $location), plus extra matchers.
type q struct {
	name     string // the series name: the family's, or with _bucket for a histogram
	matchers []string
	offset   string
}

// sel starts a selector of a catalog family. A histogram selects its buckets.
func (g *generator) sel(f metrics.Family, extra ...string) q {
	s := q{name: f.Name}
	if f.Type == metrics.Histogram {
		s.name += "_bucket"
	}
	for _, l := range f.Labels {
		switch l {
		case metrics.LabelWindow:
			s.matchers = append(s.matchers, l+`="$window"`)
		case metrics.LabelServiceLine:
			s.matchers = append(s.matchers, l+`=~"$service_line"`)
		case metrics.LabelLocation:
			s.matchers = append(s.matchers, l+`=~"$location"`)
		}
	}
	s.matchers = append(s.matchers, extra...)
	return s
}

// ago shifts the selector back by d (PromQL offset).
func (s q) ago(d string) q { s.offset = d; return s }

func (s q) String() string {
	var b strings.Builder
	b.WriteString(s.name)
	if len(s.matchers) > 0 {
		b.WriteString("{" + strings.Join(s.matchers, ", ") + "}")
	}
	if s.offset != "" {
		b.WriteString(" offset " + s.offset)
	}
	return b.String()
}

// eq and re are label matchers with a PromQL-quoted value.
func eq(label, value string) string { return label + "=" + strconv.Quote(value) }
func re(label, regex string) string { return label + "=~" + strconv.Quote(regex) }

// ratio divides a numerator family by its catalog denominator (the rules'
// division, metrics.RatioExpr), both summed by the labels after the dashboard
// filters.
func (g *generator) ratio(n metrics.Family, by []string, offset string, extra ...string) string {
	if n.Ratio == nil {
		g.errorf("metric %s has no denominator in metrics.Catalog", n.Name)
		return ""
	}
	return metrics.RatioExpr(n, by, func(f metrics.Family) string { return g.sel(f, extra...).ago(offset).String() }, " / ")
}

// ratioChange is the ratio now minus a week earlier (percentage points).
func (g *generator) ratioChange(n metrics.Family, by []string) string {
	return "(" + g.ratio(n, by, "") + ") - (" + g.ratio(n, by, "1w") + ")"
}

// countChange is a count's relative change against a week earlier.
func (g *generator) countChange(f metrics.Family, by []string) string {
	return metrics.SumBy(by, g.sel(f).String()) + " / (" + metrics.SumBy(by, g.sel(f).ago("1w").String()) + " > 0) - 1"
}

// rateTarget is a ratio's catalog target; a panel that marks one on a ratio
// without it is a generation error.
func (g *generator) rateTarget(f metrics.Family) *metrics.RateTarget {
	if f.Ratio == nil || f.Ratio.Target == nil {
		g.errorf("metric %s has no target in metrics.Catalog", f.Name)
		return nil
	}
	return f.Ratio.Target
}

// targetTh colours a ratio against its catalog target: red on the side the
// target says is bad.
func (g *generator) targetTh(f metrics.Family) cog.Builder[dashboard.ThresholdsConfig] {
	t := g.rateTarget(f)
	switch {
	case t == nil:
		return nil
	case t.Bad == metrics.BelowIsBad:
		return below(t.Of(g.targets))
	default:
		return above(t.Of(g.targets))
	}
}

// mark is how a panel shows a target, for the sentence that says so.
type mark int

const (
	markStat mark = iota // the number turns red at (or below) the target
	markBar              // the bars turn red from (or below) the target
	markLine             // the target is a dashed line
)

// targetNote is the sentence that tells where a panel marks a ratio's
// catalog target, e.g. "Red below the target minimum 50%."; whose names the
// KPI the target belongs to when it is another's ("leakage ").
func (g *generator) targetNote(f metrics.Family, m mark, whose string) string {
	t := g.rateTarget(f)
	if t == nil {
		return ""
	}
	bound, lead := "maximum", map[mark]string{markStat: "Red at the ", markBar: "Red from the "}[m]
	if t.Bad == metrics.BelowIsBad {
		bound, lead = "minimum", "Red below the "
	}
	if m == markLine {
		lead = "Dashed line: "
	}
	return lead + whose + "target " + bound + " " + metrics.Percent(t.Of(g.targets)) + "."
}

// quantile is the exact p-quantile summary of a duration family per service
// line, in days.
func (g *generator) quantileDays(f metrics.Family, quantile string) string {
	return "max by (service_line) (" + g.sel(f, eq("quantile", quantile)).String() + ") / 86400"
}

// histogramQuantileDays interpolates a quantile of a duration histogram over
// the selected service lines, in days.
func (g *generator) histogramQuantileDays(f metrics.Family, p float64) string {
	return "histogram_quantile(" + num(p) + ", " + metrics.SumBy([]string{"le"}, g.sel(f).String()) + ") / 86400"
}

// p90TargetDays is the p90 time-to-appointment target of every service line of
// base (a vector by service_line), in days: the service line's own target from
// metrics.Targets, else the default target.
func (g *generator) p90TargetDays(base string) string {
	var own []string
	for _, line := range g.targets.ServiceLinesWithOwnTarget() {
		own = append(own, `label_replace(vector(`+days(g.targets.TimeToAppointmentP90[line])+`), "service_line", `+strconv.Quote(line)+`, "", "")`)
	}
	def := "(0 * (" + base + ") + " + days(g.targets.DefaultTimeToAppointmentP90) + ")"
	if len(own) == 0 {
		return def
	}
	return "(0 * (" + base + ") + on (service_line) (" + strings.Join(own, " or ") + ")) or " + def
}

// backlogOver7Days selects the unscheduled backlog's age buckets older than
// seven days (all buckets after "3-7d").
func (g *generator) backlogOver7Days() q {
	var older []string
	past := false
	for _, b := range kpi.BacklogBuckets {
		if past {
			older = append(older, regexp.QuoteMeta(b))
		}
		if b == "3-7d" {
			past = true
		}
	}
	if len(older) == 0 {
		g.errorf("kpi.BacklogBuckets has no bucket after 3-7d: %v", kpi.BacklogBuckets)
	}
	return g.sel(metrics.UnscheduledBacklogReferrals, re(metrics.LabelAgeBucket, strings.Join(older, "|")))
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// days is a duration in days, rounded to the microday so that float noise
// (41.8 × 2 = 83.60000000000001) stays out of the expressions.
func days(d time.Duration) string { return num(math.Round(d.Hours()/24*1e6) / 1e6) }
