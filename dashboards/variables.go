package dashboards

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/referralops/referralops/metrics"
)

// The fixed uids of the provisioned datasources; the dashboards' datasource
// variables default to them.
const (
	PrometheusUID = "referralops-prometheus"
	ClickHouseUID = "referralops-clickhouse"
)

// Dashboard variable names.
const (
	varPrometheus  = "datasource"
	varClickHouse  = "clickhouse"
	varWindow      = "window"
	varServiceLine = "service_line"
	varLocation    = "location"
	varReferrer    = "referrer"
)

// allValue is the value of "All" for service line and location: a regex that
// matches every value, including those the Prometheus label values do not list
// (ClickHouse holds every location; the exporter sums small ones as "other").
const allValue = ".*"

// DefaultWindow is the window variable's default.
const DefaultWindow = "30d"

func option(text, value string) dashboard.VariableOption {
	return dashboard.VariableOption{
		Selected: cog.ToPtr(true),
		Text:     dashboard.StringOrArrayOfString{String: cog.ToPtr(text)},
		Value:    dashboard.StringOrArrayOfString{String: cog.ToPtr(value)},
	}
}

func allOption() dashboard.VariableOption {
	return dashboard.VariableOption{
		Selected: cog.ToPtr(true),
		Text:     dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
		Value:    dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}},
	}
}

// prometheusVar picks the Prometheus datasource, by default the provisioned one.
func prometheusVar() cog.Builder[dashboard.VariableModel] {
	return dashboard.NewDatasourceVariableBuilder(varPrometheus).Label("Prometheus").
		Type("prometheus").Current(option("Prometheus", PrometheusUID))
}

// clickHouseVar picks the ClickHouse datasource, by default the provisioned one.
func clickHouseVar() cog.Builder[dashboard.VariableModel] {
	return dashboard.NewDatasourceVariableBuilder(varClickHouse).Label("ClickHouse").
		Type(ClickHousePluginID).Current(option("ClickHouse", ClickHouseUID))
}

// kpiVars are the filters of the KPI dashboards: the window the exporter
// evaluates (--window), the service lines and the locations, all taken from
// the label values of referral_referrals.
func (g *generator) kpiVars() []cog.Builder[dashboard.VariableModel] {
	ref := metrics.Referrals.Name
	query := func(name, label, q string) *dashboard.QueryVariableBuilder {
		return dashboard.NewQueryVariableBuilder(name).Label(label).Datasource(promDS).
			Query(dashboard.StringOrMap{String: cog.ToPtr(q)}).Definition(q).
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).Sort(dashboard.VariableSortAlphabeticalAsc)
	}
	multi := func(b *dashboard.QueryVariableBuilder) *dashboard.QueryVariableBuilder {
		return b.Multi(true).IncludeAll(true).AllValue(allValue).Current(allOption())
	}
	return []cog.Builder[dashboard.VariableModel]{
		prometheusVar(),
		clickHouseVar(),
		query(varWindow, "Window", fmt.Sprintf("label_values(%s, %s)", ref, metrics.LabelWindow)).
			Description("KPI window W: the cohort is the referrals created in the last W (exporter --window).").
			Current(option(DefaultWindow, DefaultWindow)),
		multi(query(varServiceLine, "Service line",
			fmt.Sprintf(`label_values(%s{window="$window"}, %s)`, ref, metrics.LabelServiceLine))),
		multi(query(varLocation, "Location",
			fmt.Sprintf(`label_values(%s{window="$window", service_line=~"$service_line"}, %s)`, ref, metrics.LabelLocation)).
			Description(`Locations the exporter labels (its allow-list or top N); "other" sums the rest and matches no location in ClickHouse panels.`)),
	}
}

// referrerVar is the referrer the referrer trend panel shows: an id the
// liaison worklist's links set, or typed. Free text reaching SQL, so the SQL
// reads it only as ${referrer:percentencode} (Substitute refuses any other
// form) and decodes it inside the string literal.
func referrerVar() cog.Builder[dashboard.VariableModel] {
	return dashboard.NewTextBoxVariableBuilder(varReferrer).Label("Referrer").
		Description("A referrer id for the referrer trend panel; the liaison worklist's referrer ids link here with it set.")
}

// Vars are the values a test gives the dashboard variables.
type Vars struct {
	// Window is $window, e.g. "30d"; empty means DefaultWindow.
	Window string
	// ServiceLine and Location are the selected values; nil means All.
	ServiceLine, Location []string
	// Referrer is $referrer as typed or linked, any text.
	Referrer string
	// Interval is $__interval and $__rate_interval; 0 means one minute.
	Interval time.Duration
	// Range is $__range; 0 means one hour.
	Range time.Duration
}

// AllSelected are the variables of a dashboard opened with its defaults: the
// default window, every service line and location.
var AllSelected = Vars{}

// variableRef matches Grafana's variable syntaxes: $name, ${name},
// ${name:format} and [[name]] (groups: name, name, format, name).
var variableRef = regexp.MustCompile(`\$(\w+)|\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)\]\]`)

// formatPercentEncode is the one format a variable may take inside a SQL
// string literal: Grafana's other formats leave a backslash alone, and a
// value ending in one escapes the closing quote on ClickHouse, which reads
// backslash escapes in literals. Percent-encoded, a value is [A-Za-z0-9-_.~%]
// only; the SQL decodes it with decodeURLComponent.
const formatPercentEncode = "percentencode"

// selection formats a multi-value variable the way Grafana does: with no
// format (or regex) as a regex, ".*" for All, and with percentencode as
// Grafana's encodeURIComponentStrict of the value, "{a,b}" for several, and
// of the custom All value (which Grafana formats only for percentencode and
// text).
func selection(values []string, format string) (string, error) {
	switch format {
	case "", "regex":
		if len(values) == 0 {
			return allValue, nil
		}
		quoted := make([]string, len(values))
		for i, v := range values {
			quoted[i] = regexp.QuoteMeta(v)
		}
		if len(quoted) == 1 {
			return quoted[0], nil
		}
		return "(" + strings.Join(quoted, "|") + ")", nil
	case formatPercentEncode:
		switch len(values) {
		case 0:
			return percentEncode(allValue), nil
		case 1:
			return percentEncode(values[0]), nil
		}
		return percentEncode("{" + strings.Join(values, ",") + "}"), nil
	}
	return "", fmt.Errorf("format %q of a multi-value variable: the dashboards use none, regex or %s", format, formatPercentEncode)
}

// percentEncode is JavaScript's encodeURIComponent that also encodes !'()*,
// as Grafana's percentencode format does.
func percentEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// Substitute replaces the dashboard variables in a PromQL expression or SQL
// statement the way Grafana does before sending it: $service_line and
// $location become the regex of the selection, ".*" for All, or with
// :percentencode its encoding; $window the window; $__interval, $__rate_interval and $__range
// durations; $referrer, free text, only as ${referrer:percentencode}. The
// ClickHouse plugin's macros ($__timeFilter(...), ...) are left
// for ExpandMacros, as Grafana leaves them for the plugin. A variable the
// dashboards do not define is an error.
func Substitute(expr string, v Vars) (string, error) {
	if v.Window == "" {
		v.Window = DefaultWindow
	}
	if v.Interval <= 0 {
		v.Interval = time.Minute
	}
	if v.Range <= 0 {
		v.Range = time.Hour
	}
	values := map[string]string{
		varWindow:            v.Window,
		varPrometheus:        PrometheusUID,
		varClickHouse:        ClickHouseUID,
		"__interval":         promDuration(v.Interval),
		"__rate_interval":    promDuration(v.Interval),
		"__interval_ms":      strconv.FormatInt(v.Interval.Milliseconds(), 10),
		"__range":            promDuration(v.Range),
		"__range_s":          strconv.FormatInt(int64(v.Range.Seconds()), 10),
		"__range_ms":         strconv.FormatInt(v.Range.Milliseconds(), 10),
		"__rate_interval_ms": strconv.FormatInt(v.Interval.Milliseconds(), 10),
	}
	multi := map[string][]string{varServiceLine: v.ServiceLine, varLocation: v.Location}
	var unknown []string
	var errs []error
	out := variableRef.ReplaceAllStringFunc(expr, func(m string) string {
		sub := variableRef.FindStringSubmatch(m)
		name := sub[1] + sub[2] + sub[4]
		if name == varReferrer {
			if sub[3] != formatPercentEncode {
				unknown = append(unknown, m+" (free text: only ${"+varReferrer+":"+formatPercentEncode+"})")
				return m
			}
			return percentEncode(v.Referrer)
		}
		if values, ok := multi[name]; ok {
			s, err := selection(values, sub[3])
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", m, err))
			}
			return s
		}
		if val, ok := values[name]; ok {
			return val
		}
		if macro, ok := strings.CutPrefix(name, "__"); ok && macros[macro] != nil {
			return m // a ClickHouse plugin macro
		}
		unknown = append(unknown, m)
		return m
	})
	if len(unknown) > 0 {
		errs = append(errs, fmt.Errorf("unknown or unsafe dashboard variables %v in %q", unknown, expr))
	}
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	return out, nil
}

// promDuration formats a duration as PromQL does ("90s", "5m", "1h").
func promDuration(d time.Duration) string {
	switch s := int64(d.Seconds()); {
	case s >= 3600 && s%3600 == 0:
		return strconv.FormatInt(s/3600, 10) + "h"
	case s >= 60 && s%60 == 0:
		return strconv.FormatInt(s/60, 10) + "m"
	case s >= 1:
		return strconv.FormatInt(s, 10) + "s"
	default:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	}
}
