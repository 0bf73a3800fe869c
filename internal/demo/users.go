package demo

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/schema"
)

// users are the passwords of the least-privilege users the demo's parts
// connect as when --clickhouse-dsn names no user; the defaults are the dev
// passwords deploy/local/clickhouse.sh gives them, so that `make demo` needs
// no flags on a fresh machine.
type users struct {
	migrator, writer, exporter string
}

func defaultUsers() users {
	return users{migrator: "migrator-dev", writer: "writer-dev", exporter: "exporter-dev"}
}

// registerFlags names the passwords as the access command does, so that
// REFERRALOPS_MIGRATOR_PASSWORD and the others set both.
func (u *users) registerFlags(fs *flag.FlagSet) {
	fs.StringVar(&u.migrator, "migrator-password", u.migrator, "password of "+schema.MigratorUser+", which --fresh and the migrations run as (prefer REFERRALOPS_MIGRATOR_PASSWORD)")
	fs.StringVar(&u.writer, "writer-password", u.writer, "password of "+schema.WriterUser+", the ingester's user, which also reads the stored events for resuming and the summary (prefer REFERRALOPS_WRITER_PASSWORD)")
	fs.StringVar(&u.exporter, "exporter-password", u.exporter, "password of "+schema.ExporterUser+", the exporter's and the KPI table's user (prefer REFERRALOPS_EXPORTER_PASSWORD)")
}

// role is one part of the demo and the ClickHouse settings it connects with.
type role struct {
	user string // "" : the DSN's own user
	flag string // the password's flag, for the error that a wrong one causes
	cfg  clickhouse.Config
}

// roles are the demo's ClickHouse identities: the migrator (--fresh, the
// migrations), the writer (the ingester, and the reads of the raw events in
// the PHI database for resuming and the summary: of the users that may read
// that database it is the one without DDL) and the exporter (the exporter
// and the KPI table; it may read the PHI-free database only). A DSN that
// names a user (e.g. a server without the referralops_* users) is used as
// is by all three.
func (c *Config) roles() (migrator, writer, exporter role, err error) {
	u, err := url.Parse(c.ClickHouse.DSN)
	if err != nil {
		return role{}, role{}, role{}, fmt.Errorf("clickhouse-dsn: %w", err)
	}
	as := func(user, password, flag string) role {
		if u.User != nil {
			return role{cfg: *c.ClickHouse}
		}
		v := *u
		v.User = url.UserPassword(user, password)
		cfg := *c.ClickHouse
		cfg.DSN = v.String()
		return role{user: user, flag: flag, cfg: cfg}
	}
	return as(schema.MigratorUser, c.users.migrator, "migrator-password"),
		as(schema.WriterUser, c.users.writer, "writer-password"),
		as(schema.ExporterUser, c.users.exporter, "exporter-password"), nil
}

// open connects as r, naming the user and its password's flag and
// variable when that fails (a wrong password, or a server without the user).
func (r role) open(ctx context.Context) (driver.Conn, error) {
	conn, err := clickhouse.Open(ctx, r.cfg)
	if err == nil || r.user == "" {
		return conn, err
	}
	return nil, fmt.Errorf("connect as %s (its password: --%s or REFERRALOPS_%s; a --clickhouse-dsn that names a user is used by every part instead): %w",
		r.user, r.flag, strings.ToUpper(strings.ReplaceAll(r.flag, "-", "_")), err)
}
