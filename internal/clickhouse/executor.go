package clickhouse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/referralops/referralops/internal/clickhouse/chdb"
)

// Querier runs a query and returns its rows with every value as text, the way
// ClickHouse's TSV output shows it (unescaped; NULL is `\N`). Text keeps the two
// engines comparable: the native protocol returns typed values, chDB returns
// formatted bytes. Queries meant for both should select String and integer
// columns (times as toUInt32(t)), whose text is the same everywhere.
type Querier interface {
	Query(ctx context.Context, query string) ([][]string, error)
}

// Executor runs DDL and DML statements, and reads (for migration bookkeeping).
// It is implemented for a native connection (Native) and for chDB (ChDB), so the
// same migrations run on a server and on the embedded engine.
type Executor interface {
	Querier
	Exec(ctx context.Context, statement string) error
}

// Native runs statements over a native-protocol connection.
type Native struct{ Conn driver.Conn }

var _ Executor = Native{}

// ErrInsertValues is returned by Native.Exec for INSERT ... VALUES.
var ErrInsertValues = errors.New("clickhouse: INSERT ... VALUES through Exec: use conn.PrepareBatch or INSERT ... SELECT")

var insertValues = regexp.MustCompile(`(?is)^\s*INSERT\s+INTO\s+[^\s(]+\s*(\([^)]*\))?\s*VALUES\b`)

// Exec runs one statement. It refuses INSERT ... VALUES: ClickHouse 18.16
// answers it by waiting for data blocks that Exec never sends, so the call
// would hang until the read timeout.
func (n Native) Exec(ctx context.Context, statement string) error {
	if insertValues.MatchString(statement) {
		return ErrInsertValues
	}
	return n.Conn.Exec(ctx, statement)
}

// Query runs a query and formats each value as text.
func (n Native) Query(ctx context.Context, query string) ([][]string, error) {
	rows, err := n.Conn.Query(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	types := rows.ColumnTypes()
	var out [][]string
	for rows.Next() {
		dest := make([]any, len(types))
		for i, ct := range types {
			dest[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		row := make([]string, len(dest))
		for i, d := range dest {
			row[i] = formatValue(reflect.ValueOf(d).Elem())
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

// formatValue renders a scanned value like ClickHouse's TSV output would.
func formatValue(v reflect.Value) string {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return `\N`
		}
		v = v.Elem()
	}
	switch x := v.Interface().(type) {
	case string:
		return x
	case time.Time:
		return x.UTC().Format(time.DateTime)
	case bool:
		if x {
			return "true"
		}
		return "false"
	}
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	}
	return fmt.Sprint(v.Interface())
}

// ChDB runs statements on an embedded chDB session.
type ChDB struct{ Session *chdb.Session }

var _ Executor = ChDB{}

// Exec runs one statement, discarding any output.
func (c ChDB) Exec(ctx context.Context, statement string) error {
	_, err := c.Session.Query(ctx, statement, "TSV")
	return err
}

// Query runs a query with TSV output and splits it into rows and values.
func (c ChDB) Query(ctx context.Context, query string) ([][]string, error) {
	out, err := c.Session.Query(ctx, query, "TSV")
	if err != nil {
		return nil, err
	}
	return parseTSV(out)
}

// parseTSV splits ClickHouse TSV output into unescaped values.
func parseTSV(b []byte) ([][]string, error) {
	var rows [][]string
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		fields := bytes.Split(line, []byte{'\t'})
		row := make([]string, len(fields))
		for i, f := range fields {
			v, err := unescapeTSV(f)
			if err != nil {
				return nil, fmt.Errorf("tsv row %d: %w", len(rows)+1, err)
			}
			row[i] = v
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// unescapeTSV undoes ClickHouse's TSV escaping. `\N` (NULL) stays as it is.
func unescapeTSV(f []byte) (string, error) {
	if bytes.IndexByte(f, '\\') < 0 {
		return string(f), nil
	}
	if string(f) == `\N` {
		return `\N`, nil
	}
	var sb strings.Builder
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '\\' {
			sb.WriteByte(c)
			continue
		}
		i++
		if i == len(f) {
			return "", fmt.Errorf("dangling backslash in %q", f)
		}
		switch f[i] {
		case 'b':
			sb.WriteByte('\b')
		case 'f':
			sb.WriteByte('\f')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 't':
			sb.WriteByte('\t')
		case '0':
			sb.WriteByte(0)
		case 'a':
			sb.WriteByte('\a')
		case 'v':
			sb.WriteByte('\v')
		default: // \\, \', \" and anything else: the character itself
			sb.WriteByte(f[i])
		}
	}
	return sb.String(), nil
}
