package dashboards

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

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
func (g *generator) sel(family string, extra ...string) q {
	f := g.family(family)
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

// sum aggregates by the labels (none: one series).
func sum(by []string, expr string) string {
	if len(by) == 0 {
		return "sum(" + expr + ")"
	}
	return "sum by (" + strings.Join(by, ", ") + ") (" + expr + ")"
}

// ratio divides a numerator family by its catalog denominator, both summed by
// the labels after the dashboard filters; a zero denominator gives no value
// rather than NaN.
func (g *generator) ratio(numerator string, by []string, offset string, extra ...string) string {
	n := g.family(numerator)
	if n.Denominator == "" {
		g.errorf("metric %s has no denominator in metrics.Catalog", numerator)
	}
	num := g.sel(numerator, extra...).ago(offset)
	den := g.sel(n.Denominator, extra...).ago(offset)
	return sum(by, num.String()) + " / (" + sum(by, den.String()) + " > 0)"
}

// ratioChange is the ratio now minus a week earlier (percentage points).
func (g *generator) ratioChange(numerator string, by []string) string {
	return "(" + g.ratio(numerator, by, "") + ") - (" + g.ratio(numerator, by, "1w") + ")"
}

// countChange is a count's relative change against a week earlier.
func (g *generator) countChange(family string, by []string) string {
	return sum(by, g.sel(family).String()) + " / (" + sum(by, g.sel(family).ago("1w").String()) + " > 0) - 1"
}

// quantile is the exact p-quantile summary of a duration family per service
// line, in days.
func (g *generator) quantileDays(family, quantile string) string {
	return "max by (service_line) (" + g.sel(family, eq("quantile", quantile)).String() + ") / 86400"
}

// histogramQuantileDays interpolates a quantile of a duration histogram over
// the selected service lines, in days.
func (g *generator) histogramQuantileDays(family string, p float64, by ...string) string {
	return "histogram_quantile(" + num(p) + ", " + sum(append([]string{"le"}, by...), g.sel(family).String()) + ") / 86400"
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
	return g.sel("referral_unscheduled_backlog_referrals", re(metrics.LabelAgeBucket, strings.Join(older, "|")))
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// days is a duration in days, rounded to the microday so that float noise
// (41.8 × 2 = 83.60000000000001) stays out of the expressions.
func days(d time.Duration) string { return num(math.Round(d.Hours()/24*1e6) / 1e6) }
