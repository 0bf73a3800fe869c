package dashboards

import (
	"strings"
	"testing"
	"time"
)

func TestExpandMacros(t *testing.T) {
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC) // 1772323200
	to := time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC) // 1774958400
	for _, c := range []struct {
		name, sql, want string
		interval        time.Duration
	}{
		{"time filter", "WHERE $__timeFilter(created_at) AND x", "WHERE created_at >= toDateTime(1772323200) AND created_at <= toDateTime(1774958400) AND x", 0},
		{"time filter with an expression", "$__timeFilter(assumeNotNull(t))", "assumeNotNull(t) >= toDateTime(1772323200) AND assumeNotNull(t) <= toDateTime(1774958400)", 0},
		{"spaces around the argument", "$__timeFilter( t )", "t >= toDateTime(1772323200) AND t <= toDateTime(1774958400)", 0},
		{"from and to", "BETWEEN $__fromTime AND $__toTime", "BETWEEN toDateTime(1772323200) AND toDateTime(1774958400)", 0},
		{"from and to with parentheses", "$__fromTime() $__toTime()", "toDateTime(1772323200) toDateTime(1774958400)", 0},
		{"milliseconds", "$__fromTime_ms, $__toTime_ms", "fromUnixTimestamp64Milli(1772323200000), fromUnixTimestamp64Milli(1774958400000)", 0},
		{"time filter in milliseconds", "$__timeFilter_ms(t)", "t >= fromUnixTimestamp64Milli(1772323200000) AND t <= fromUnixTimestamp64Milli(1774958400000)", 0},
		{"date filter", "$__dateFilter(d)", "d >= toDate('2026-03-01') AND d <= toDate('2026-03-31')", 0},
		{"date and time filter", "$__dateTimeFilter(d, t)", "(d >= toDate('2026-03-01') AND d <= toDate('2026-03-31')) AND (t >= toDateTime(1772323200) AND t <= toDateTime(1774958400))", 0},
		{"dt", "$__dt(d,t)", "(d >= toDate('2026-03-01') AND d <= toDate('2026-03-31')) AND (t >= toDateTime(1772323200) AND t <= toDateTime(1774958400))", 0},
		{"interval", "intDiv(x, $__interval_s)", "intDiv(x, 3600)", time.Hour},
		{"interval below a second", "$__interval_s", "1", time.Millisecond},
		{"time interval", "$__timeInterval(t)", "toStartOfInterval(toDateTime(t), INTERVAL 300 second)", 5 * time.Minute},
		{"time interval in milliseconds", "$__timeInterval_ms(t)", "toStartOfInterval(toDateTime64(t, 3), INTERVAL 1500 millisecond)", 1500 * time.Millisecond},
		{"no macro, a regex end anchor kept", "match(s, '^(.*)$') AND x = '$'", "match(s, '^(.*)$') AND x = '$'", 0},
		{"parenthesis in a quoted argument", "$__timeFilter(if(a = ')', b, c))", "if(a = ')', b, c) >= toDateTime(1772323200) AND if(a = ')', b, c) <= toDateTime(1774958400)", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ExpandMacros(c.sql, from, to, c.interval)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("ExpandMacros(%q)\n got %q\nwant %q", c.sql, got, c.want)
			}
		})
	}
}

func TestExpandMacrosErrors(t *testing.T) {
	now := time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct{ sql, want string }{
		{"$__timeFilter()", "$__timeFilter: expected 1 argument, got 0"},
		{"$__timeFilter(a, b)", "$__timeFilter: expected 1 argument, got 2"},
		{"$__timeFilter", "$__timeFilter: expected 1 argument, got 0"},
		{"$__dt(a)", "$__dt: expected 2 arguments, got 1"},
		{"$__fromTime(a)", "$__fromTime: expected no arguments, got 1"},
		{"$__timeFilter(a", "$__timeFilter: unbalanced parentheses"},
		{"$__conditionalAll(a, $b)", "$__conditionalAll: not a ClickHouse plugin macro"},
		{"x $__nope y", "$__nope: not a ClickHouse plugin macro"},
	} {
		_, err := ExpandMacros(c.sql, now.Add(-time.Hour), now, time.Minute)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ExpandMacros(%q): error %v, want %q", c.sql, err, c.want)
		}
	}
}

func TestSubstitute(t *testing.T) {
	for _, c := range []struct {
		name, expr string
		vars       Vars
		want       string
	}{
		{"All selected", `x{window="$window", service_line=~"$service_line", location=~"$location"}`, AllSelected,
			`x{window="30d", service_line=~".*", location=~".*"}`},
		{"a selection", `x{window="$window", service_line=~"$service_line", location=~"${location}"}`,
			Vars{Window: "90d", ServiceLine: []string{"cardiology", "oncology"}, Location: []string{"site-01"}},
			`x{window="90d", service_line=~"(cardiology|oncology)", location=~"site-01"}`},
		{"formats and the old syntax", `match(s, '^(${service_line:regex})$') AND [[location]]`, AllSelected,
			`match(s, '^(.*)$') AND .*`},
		{"regex escaping", `x{service_line=~"$service_line"}`, Vars{ServiceLine: []string{"a.b", "c|d"}},
			`x{service_line=~"(a\.b|c\|d)"}`},
		{"percentencode of All", `'${location:percentencode}'`, AllSelected, `'.%2A'`},
		{"percentencode of one value", `'${location:percentencode}'`, Vars{Location: []string{`x\' OR 1=1 -- (é)`}},
			`'x%5C%27%20OR%201%3D1%20--%20%28%C3%A9%29'`},
		{"percentencode of several", `'${location:percentencode}'`, Vars{Location: []string{"a b", "c"}}, `'%7Ba%20b%2Cc%7D'`},
		{"intervals", `rate(x[$__rate_interval]) + rate(y[$__interval]) + z[$__range]`, Vars{Interval: 30 * time.Second, Range: 2 * time.Hour},
			`rate(x[30s]) + rate(y[30s]) + z[2h]`},
		{"default intervals", `rate(x[$__rate_interval])`, AllSelected, `rate(x[1m])`},
		{"a referrer id, percent-encoded into a literal", `referrer_id = decodeURLComponent('${referrer:percentencode}')`,
			Vars{Referrer: `ref-01.a_b~' OR 1=1 --\é`},
			`referrer_id = decodeURLComponent('ref-01.a_b~%27%20OR%201%3D1%20--%5C%C3%A9')`},
		{"plugin macros stay", `WHERE $__timeFilter(t) AND t <= $__toTime AND $service_line`, AllSelected,
			`WHERE $__timeFilter(t) AND t <= $__toTime AND .*`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Substitute(c.expr, c.vars)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
	if _, err := Substitute(`x{a="$nope"}`, AllSelected); err == nil || !strings.Contains(err.Error(), "$nope") {
		t.Errorf("an unknown variable: error %v, want one naming $nope", err)
	}
	if _, err := Substitute(`'${location:singlequote}'`, AllSelected); err == nil || !strings.Contains(err.Error(), `format "singlequote"`) {
		t.Errorf("an unsupported format: error %v, want one naming it", err)
	}
	// Free text in any other form could end the string literal it is in.
	for _, raw := range []string{"'$referrer'", "'${referrer}'", "'${referrer:regex}'", "'${referrer:singlequote}'", "'[[referrer]]'"} {
		if _, err := Substitute("x = "+raw, Vars{Referrer: "r"}); err == nil || !strings.Contains(err.Error(), "percentencode") {
			t.Errorf("%s: error %v, want one asking for ${referrer:percentencode}", raw, err)
		}
	}
}
