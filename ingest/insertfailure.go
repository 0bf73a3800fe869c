package ingest

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"

	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/schema"
)

// InsertFailure says where an INSERT failed, for readiness and metrics: the
// ClickHouse exception code and, on a cluster, the shard and replica of the
// server that raised it. It holds no text of the exception, which could quote
// a value.
type InsertFailure struct {
	Code    string // ClickHouse exception code; "" when no server answered with one
	Server  string // host:port of a remote server that raised it; "" for the ingester's own
	Shard   string // from system.clusters or system.macros; "" on a single server
	Replica string
	// Need is what an operator must give for a permanent failure to pass: a
	// grant, a migration; "" when time alone may do.
	Need  string
	class errClass
}

// String is the failure as /readyz and the log show it.
func (f InsertFailure) String() string {
	s := "no answer from ClickHouse"
	switch {
	case f.Code != "":
		s = "ClickHouse exception code " + f.Code
	case f.class.permanent():
		s = f.class.String()
	}
	switch {
	case f.Shard != "":
		s += " on shard " + f.Shard + " replica " + f.Replica
		if f.Server != "" {
			s += " (" + f.Server + ")"
		}
	case f.Server != "":
		s += " on " + f.Server
	}
	if f.Code != "" && f.class.permanent() {
		s += " (" + f.class.String() + ")"
	}
	if f.Need != "" {
		s += "; needs " + f.Need
	}
	return s
}

// receivedFrom is how a server names the remote server an exception of a
// distributed query came from.
var receivedFrom = regexp.MustCompile(`Received from ([^\s:]+):(\d+)`)

// locateTimeout bounds the look-ups: they run only while inserts fail.
const locateTimeout = 2 * time.Second

// Locate describes err, an INSERT's error: its class and, for a permanent
// one, what it needs; a remote server named in the exception is looked up in
// system.clusters, the ingester's own server in system.macros (its shard and
// replica macros, set on every cluster server).
func (s *ClickHouseStore) Locate(ctx context.Context, err error) InsertFailure {
	f := InsertFailure{class: classify(err)}
	ctx, cancel := context.WithTimeout(ctx, locateTimeout)
	defer cancel()
	f.Need = s.need(ctx, f.class, err)
	var ex *proto.Exception
	if !errors.As(err, &ex) {
		return f
	}
	f.Code = strconv.Itoa(int(ex.Code))
	if m := receivedFrom.FindStringSubmatch(ex.Message); m != nil {
		f.Server = m[1] + ":" + m[2]
		var shard, replica uint32
		row := s.conn.QueryRow(ctx, "SELECT shard_num, replica_num FROM system.clusters WHERE (host_name = ? OR host_address = ?) AND port = ? LIMIT 1", m[1], m[1], m[2])
		if row.Scan(&shard, &replica) == nil {
			f.Shard, f.Replica = strconv.Itoa(int(shard)), strconv.Itoa(int(replica))
		}
		return f
	}
	rows, qerr := s.conn.Query(ctx, "SELECT macro, substitution FROM system.macros WHERE macro IN ('shard', 'replica')")
	if qerr != nil {
		return f
	}
	defer rows.Close()
	for rows.Next() {
		var macro, value string
		if rows.Scan(&macro, &value) != nil {
			return f
		}
		if macro == "shard" {
			f.Shard = value
		} else {
			f.Replica = value
		}
	}
	return f
}

// need says what a permanent failure of class c needs: the grant of a refused
// INSERT, the migrations a database lacks, or a login that works.
func (s *ClickHouseStore) need(ctx context.Context, c errClass, err error) string {
	switch c {
	case accessDenied:
		if code, _, _ := clickhouse.Exception(err); loginRefused(code) {
			return "a ClickHouse user and password the server accepts (--clickhouse-dsn)"
		}
		if errors.Is(err, errPatientOrder) {
			return "SELECT on " + schema.PHIDatabase(s.database) + ".patient_referrals and on the patient_token of " + s.table + ", INSERT on " + s.database +
				".referral_patient_order for the ingester's ClickHouse user"
		}
		return "INSERT on " + s.table + " for the ingester's ClickHouse user"
	case schemaBehind:
		missing, qerr := s.Schema(ctx)
		switch {
		case qerr != nil:
			return ""
		case len(missing) > 0:
			return "migrations " + strings.Join(missing, ", ") + " (run `referralops migrate`)"
		}
		return "the columns of " + s.table + " this binary writes (the table differs from its migrations)"
	}
	return ""
}

// loginRefused tells the access codes of a refused login from those of a
// refused statement.
func loginRefused(code int32) bool {
	switch code {
	case clickhouse.CodeUnknownUser, clickhouse.CodeWrongPassword, clickhouse.CodeRequiredPassword,
		clickhouse.CodeIPAddressNotAllowed, clickhouse.CodeAuthenticationFailed:
		return true
	}
	return false
}
