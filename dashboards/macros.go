package dashboards

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// macro expands one of the ClickHouse plugin's macros for a time range.
type macro func(args []string, r timeRange) (string, error)

type timeRange struct {
	from, to time.Time
	interval time.Duration
}

// macros are the grafana-clickhouse-datasource plugin's own (pkg/macros), with
// its expansions. The panels use the ones that exist on ClickHouse 18.16:
// toStartOfInterval ($__timeInterval) and DateTime64 (the _ms variants) do not.
var macros = map[string]macro{
	"fromTime":    noArgs(func(r timeRange) string { return dateTime(r.from) }),
	"toTime":      noArgs(func(r timeRange) string { return dateTime(r.to) }),
	"fromTime_ms": noArgs(func(r timeRange) string { return dateTime64(r.from) }),
	"toTime_ms":   noArgs(func(r timeRange) string { return dateTime64(r.to) }),
	"timeFilter": oneArg(func(col string, r timeRange) string {
		return col + " >= " + dateTime(r.from) + " AND " + col + " <= " + dateTime(r.to)
	}),
	"timeFilter_ms": oneArg(func(col string, r timeRange) string {
		return col + " >= " + dateTime64(r.from) + " AND " + col + " <= " + dateTime64(r.to)
	}),
	"dateFilter": oneArg(func(col string, r timeRange) string {
		return col + " >= " + date(r.from) + " AND " + col + " <= " + date(r.to)
	}),
	"dateTimeFilter": dateTimeFilter,
	"dt":             dateTimeFilter,
	"timeInterval": oneArg(func(col string, r timeRange) string {
		return "toStartOfInterval(toDateTime(" + col + "), INTERVAL " + strconv.Itoa(intervalSeconds(r)) + " second)"
	}),
	"timeInterval_ms": oneArg(func(col string, r timeRange) string {
		return "toStartOfInterval(toDateTime64(" + col + ", 3), INTERVAL " + strconv.FormatInt(max(r.interval.Milliseconds(), 1), 10) + " millisecond)"
	}),
	"interval_s": noArgs(func(r timeRange) string { return strconv.Itoa(intervalSeconds(r)) }),
}

func dateTime(t time.Time) string { return "toDateTime(" + strconv.FormatInt(t.Unix(), 10) + ")" }
func dateTime64(t time.Time) string {
	return "fromUnixTimestamp64Milli(" + strconv.FormatInt(t.UnixMilli(), 10) + ")"
}
func date(t time.Time) string { return "toDate('" + t.UTC().Format("2006-01-02") + "')" }
func intervalSeconds(r timeRange) int {
	return max(int(r.interval.Seconds()), 1)
}

func noArgs(f func(timeRange) string) macro {
	return func(args []string, r timeRange) (string, error) {
		if len(args) > 0 {
			return "", fmt.Errorf("expected no arguments, got %d", len(args))
		}
		return f(r), nil
	}
}

func oneArg(f func(string, timeRange) string) macro {
	return func(args []string, r timeRange) (string, error) {
		if len(args) != 1 || args[0] == "" {
			return "", fmt.Errorf("expected 1 argument, got %d", len(args))
		}
		return f(args[0], r), nil
	}
}

func dateTimeFilter(args []string, r timeRange) (string, error) {
	if len(args) != 2 {
		return "", fmt.Errorf("expected 2 arguments, got %d", len(args))
	}
	d, t := args[0], args[1]
	return "(" + d + " >= " + date(r.from) + " AND " + d + " <= " + date(r.to) + ") AND (" +
		t + " >= " + dateTime(r.from) + " AND " + t + " <= " + dateTime(r.to) + ")", nil
}

// ExpandMacros expands the ClickHouse plugin's macros ($__timeFilter(col),
// $__fromTime, $__toTime, $__interval_s, ...) as the plugin does for a query
// over [from, to] with the given interval, so a panel's SQL (after
// Substitute) runs directly on a server. An unknown $__ macro, or one with the
// wrong number of arguments, is an error.
func ExpandMacros(sql string, from, to time.Time, interval time.Duration) (string, error) {
	r := timeRange{from: from, to: to, interval: interval}
	var b strings.Builder
	var errs []error
	for {
		i := strings.Index(sql, "$__")
		if i < 0 {
			b.WriteString(sql)
			break
		}
		b.WriteString(sql[:i])
		rest := sql[i+3:]
		n := 0
		for n < len(rest) && isWordByte(rest[n]) {
			n++
		}
		name := rest[:n]
		rest = rest[n:]
		var args []string
		if strings.HasPrefix(rest, "(") {
			a, after, err := arguments(rest)
			if err != nil {
				errs = append(errs, fmt.Errorf("$__%s: %w", name, err))
				b.WriteString("$__" + name)
				sql = rest
				continue
			}
			args, rest = a, after
		}
		m, ok := macros[name]
		if !ok {
			errs = append(errs, fmt.Errorf("$__%s: not a ClickHouse plugin macro", name))
			b.WriteString("$__" + name)
			sql = rest
			continue
		}
		out, err := m(args, r)
		if err != nil {
			errs = append(errs, fmt.Errorf("$__%s: %w", name, err))
		}
		b.WriteString(out)
		sql = rest
	}
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	return b.String(), nil
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// arguments parses "(a, b(c, d), 'e,f')after": the arguments inside the
// parenthesis matching the first one, split at its top-level commas (not
// inside nested parentheses or quoted strings), and what follows it.
func arguments(s string) (args []string, after string, err error) {
	depth, start := 0, 1
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"' || c == '`':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				if last := strings.TrimSpace(s[start:i]); last != "" || len(args) > 0 {
					args = append(args, last)
				}
				return args, s[i+1:], nil
			}
		case c == ',' && depth == 1:
			args = append(args, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	return nil, "", errors.New("unbalanced parentheses")
}
