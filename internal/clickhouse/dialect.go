package clickhouse

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Dialect is what the connected engine supports, derived from its version. The
// migration templates switch on it, so one set of .sql files serves the 2018
// server that Debian ships (18.16) and current releases.
type Dialect struct {
	// Version is what `SELECT version()` returned, e.g. "18.16.1" or "26.7.2.1".
	Version string
	// Major and Minor are Version's first two numbers.
	Major, Minor int
	// LowCardinality: the LowCardinality(String) type without experimental
	// settings. 18.16 needs allow_experimental_low_cardinality_type=1, a setting
	// current releases reject, so there it is simply not used.
	LowCardinality bool
	// TTL: table TTL clauses and the ttl_only_drop_parts setting.
	TTL bool
	// RetentionDays is the `events` TTL in days where TTL is supported; 0 means
	// DefaultRetentionDays.
	RetentionDays int
	// Cluster, when set, selects the replicated variant of the schema for that
	// cluster of the servers' remote_servers (see cluster.go); empty is the
	// single-node schema. Like RetentionDays it is the operator's choice, not
	// the server's, and DialectFor leaves it empty.
	Cluster string
}

// modernMajor, modernMinor: 20.3, the oldest LTS release in which every optional
// feature above is generally available. The features appeared in 19.x, but a
// conservative line is cheaper than a broken migration on an odd 19.x server.
const modernMajor, modernMinor = 20, 3

// DialectFor derives the dialect of a server version string.
func DialectFor(version string) (Dialect, error) {
	parts := strings.Split(strings.TrimSpace(version), ".")
	if len(parts) < 2 {
		return Dialect{}, fmt.Errorf("clickhouse version %q: want major.minor[...]", version)
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return Dialect{}, fmt.Errorf("clickhouse version %q: want major.minor[...]", version)
	}
	modern := major > modernMajor || (major == modernMajor && minor >= modernMinor)
	return Dialect{
		Version:        strings.TrimSpace(version),
		Major:          major,
		Minor:          minor,
		LowCardinality: modern,
		TTL:            modern,
		RetentionDays:  DefaultRetentionDays,
	}, nil
}

// DetectDialect asks the engine its version.
func DetectDialect(ctx context.Context, q Querier) (Dialect, error) {
	rows, err := q.Query(ctx, "SELECT version()")
	if err != nil {
		return Dialect{}, fmt.Errorf("clickhouse version: %w", err)
	}
	if len(rows) != 1 || len(rows[0]) != 1 {
		return Dialect{}, fmt.Errorf("clickhouse version: unexpected result %q", rows)
	}
	return DialectFor(rows[0][0])
}

// EnumType is the column type of an enum-like String.
func (d Dialect) EnumType() string {
	if d.LowCardinality {
		return "LowCardinality(String)"
	}
	return "String"
}

// EffectiveRetentionDays is RetentionDays, or DefaultRetentionDays when unset.
func (d Dialect) EffectiveRetentionDays() int {
	if d.RetentionDays > 0 {
		return d.RetentionDays
	}
	return DefaultRetentionDays
}

// SQLAccess reports whether the server manages users with SQL.
func (d Dialect) SQLAccess() bool {
	return d.Major > 20 || (d.Major == 20 && d.Minor >= 5)
}

// ParallelInsertSelect: the server has parallel_distributed_insert_select = 2
// (the default of current releases). 21.8, an LTS release, is a conservative
// line, as modernMajor is for the other features.
func (d Dialect) ParallelInsertSelect() bool {
	return d.Major > 21 || (d.Major == 21 && d.Minor >= 8)
}
