package schema

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"text/template"

	"golang.org/x/crypto/bcrypt"

	"github.com/referralops/referralops/internal/clickhouse"
)

// The users `referralops access` creates: three readers, each with its own
// settings profile, allowed only the PHI-free database; the ingester's writer
// and the migrator. The same names are in deploy/local/clickhouse/users.xml.tmpl
// for ClickHouse 18.16, which has no SQL user management.
const (
	ExporterUser = "referralops_exporter"
	GrafanaUser  = "referralops_grafana"
	AnalystUser  = "referralops_analyst"
	WriterUser   = "referralops_writer"
	MigratorUser = "referralops_migrator"
)

// Limits bound what the readers may take from the server, so that one query
// or one runaway client cannot starve ingestion: the analyst's settings and
// the ceilings it cannot raise them past, and hourly quotas. users.xml.tmpl
// holds the same numbers for 18.16 (a test compares them), where the analyst
// is readonly=1 and so stays at the setting itself.
type Limits struct {
	AnalystMaxExecutionSeconds, AnalystMaxExecutionSecondsCeiling int
	AnalystMaxMemoryBytes, AnalystMaxRowsToRead                   int64

	ReaderQueriesPerHour, ReaderErrorsPerHour, ReaderExecutionSecondsPerHour    int
	ReaderResultRowsPerHour, ReaderReadRowsPerHour                              int64
	AnalystQueriesPerHour, AnalystErrorsPerHour, AnalystExecutionSecondsPerHour int
	AnalystResultRowsPerHour, AnalystReadRowsPerHour                            int64
}

// DefaultLimits are the limits of the access SQL and users.xml.tmpl.
var DefaultLimits = Limits{
	AnalystMaxExecutionSeconds: 300, AnalystMaxExecutionSecondsCeiling: 3600,
	AnalystMaxMemoryBytes: 4_000_000_000, AnalystMaxRowsToRead: 1_000_000_000,
	ReaderQueriesPerHour: 20_000, ReaderErrorsPerHour: 2_000, ReaderExecutionSecondsPerHour: 36_000,
	ReaderResultRowsPerHour: 1_000_000_000, ReaderReadRowsPerHour: 200_000_000_000,
	AnalystQueriesPerHour: 1_000, AnalystErrorsPerHour: 200, AnalystExecutionSecondsPerHour: 7_200,
	AnalystResultRowsPerHour: 100_000_000, AnalystReadRowsPerHour: 50_000_000_000,
}

// Relation is a table or view of the PHI-free database that the readers may
// read; Located when it has a plain location_id column a site scope filters.
type Relation struct {
	Name          string
	View, Located bool
}

// ReaderRelations are the relations the readers may read (everything in the
// database since migrations/0008), in schema order; a test compares them with
// a migrated database.
var ReaderRelations = []Relation{
	{Name: "schema_migrations"},
	{Name: "referral_facts"}, {Name: "referral_stages"}, {Name: "appointment_facts"},
	{Name: "kpi_index"}, {Name: "kpi_referrers"}, {Name: "kpi_created", Located: true},
	{Name: "referral_patient_order"}, {Name: "referrer_notes"},
	{Name: "v_referrals", View: true, Located: true},
	{Name: "v_unscheduled_worklist", View: true, Located: true},
	{Name: "v_referrer_scorecard", View: true},
	{Name: "v_loops", View: true, Located: true},
	{Name: "v_referrer_attention", View: true},
	{Name: "kpi_touched"}, {Name: "referral_facts_by_created"}, {Name: "referral_stages_by_created"},
	{Name: "appointment_facts_by_created"}, {Name: "kpi_state_index"}, {Name: "kpi_state_passes"},
	{Name: "referral_patient_order_by_created"}, {Name: "referrer_notes_by_created"},
}

// locationID is what a site scope's location ids may be: they are pasted
// into SQL string literals.
var locationID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$`)

// ErrNoSQLAccess means the server predates SQL-driven access control (20.5).
var ErrNoSQLAccess = errors.New("this ClickHouse server has no SQL user management (CREATE USER needs 20.5+); define the users in its users.xml, as deploy/local/clickhouse/users.xml.tmpl does")

// AccessConfig is what the access SQL needs. Passwords are given in clear and
// only their bcrypt hash (salted, slow to brute-force, unlike the unsalted
// SHA-256 this used to send) reaches the server or the rendered SQL.
// ClickHouse 18.16's users.xml has only password_sha256_hex and
// password_double_sha1_hex, neither salted.
type AccessConfig struct {
	// Database the reader role may SELECT from.
	Database string
	// Cluster, when set, adds ON CLUSTER to every statement that allows it.
	Cluster string
	// Host is the HOST clause of the users: "ANY", "LOCAL", "IP '10.0.0.0/8'",
	// "NAME 'grafana.example'", ... (see ParseHosts).
	Host string
	// Passwords of the five users; none may be empty.
	ExporterPassword, GrafanaPassword, AnalystPassword, WriterPassword, MigratorPassword string
	// GrafanaLocations and AnalystLocations, when set, scope those users to
	// the rows of these location_ids (row policies; current servers only).
	GrafanaLocations, AnalystLocations []string
	// GrafanaMaxResultRows and GrafanaMaxExecutionSeconds bound dashboard queries.
	GrafanaMaxResultRows       int
	GrafanaMaxExecutionSeconds int
}

// Validate reports every missing or invalid setting.
func (c AccessConfig) Validate() error {
	var errs []error
	if err := clickhouse.ValidateIdentifier(c.Database); err != nil {
		errs = append(errs, err)
	}
	if c.Cluster != "" {
		if err := clickhouse.ValidateIdentifier(c.Cluster); err != nil {
			errs = append(errs, fmt.Errorf("cluster: %w", err))
		}
	}
	if _, err := ParseHosts(c.Host); err != nil {
		errs = append(errs, fmt.Errorf("host: %w", err))
	}
	for _, p := range []struct{ user, password string }{
		{ExporterUser, c.ExporterPassword}, {GrafanaUser, c.GrafanaPassword}, {AnalystUser, c.AnalystPassword},
		{WriterUser, c.WriterPassword}, {MigratorUser, c.MigratorPassword},
	} {
		if p.password == "" {
			errs = append(errs, fmt.Errorf("password of %s: must not be empty", p.user))
		}
	}
	for _, l := range slices.Concat(c.GrafanaLocations, c.AnalystLocations) {
		if !locationID.MatchString(l) {
			errs = append(errs, fmt.Errorf("locations: %q is not a location id (letters, digits, _ . : -; at most 64)", l))
		}
	}
	if c.GrafanaMaxResultRows <= 0 || c.GrafanaMaxExecutionSeconds <= 0 {
		errs = append(errs, fmt.Errorf("grafana limits: max result rows and max execution seconds must be > 0, got %d and %d",
			c.GrafanaMaxResultRows, c.GrafanaMaxExecutionSeconds))
	}
	return errors.Join(errs...)
}

var accessTemplate = sync.OnceValues(func() (*template.Template, error) {
	return parseTemplate(sqlFiles, "sql/access.sql")
})

// AccessStatements renders the roles, settings profiles and users for c.
func AccessStatements(c AccessConfig) ([]string, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	t, err := accessTemplate()
	if err != nil {
		return nil, err
	}
	onCluster, clusterSettings := "", ""
	if c.Cluster != "" {
		onCluster = " ON CLUSTER " + c.Cluster
		clusterSettings = ", distributed_product_mode = 'local'"
	}
	host, err := ParseHosts(c.Host)
	if err != nil {
		return nil, err
	}
	var hashes [5]string
	for i, p := range []string{c.ExporterPassword, c.GrafanaPassword, c.AnalystPassword, c.WriterPassword, c.MigratorPassword} {
		h, err := bcrypt.GenerateFromPassword([]byte(p), bcrypt.DefaultCost)
		if err != nil {
			return nil, fmt.Errorf("hash password: %w", err)
		}
		hashes[i] = string(h)
	}
	type scope struct{ User, Locations string }
	var scoped []scope
	var scopedUsers []string
	for _, s := range []struct {
		user      string
		locations []string
	}{{GrafanaUser, c.GrafanaLocations}, {AnalystUser, c.AnalystLocations}} {
		if len(s.locations) > 0 {
			scoped = append(scoped, scope{User: s.user, Locations: "'" + strings.Join(s.locations, "', '") + "'"})
			scopedUsers = append(scopedUsers, s.user)
		}
	}
	var sb strings.Builder
	err = t.Execute(&sb, map[string]any{
		"DB": c.Database, "PHIDB": PHIDatabase(c.Database), "Cluster": c.Cluster,
		"OnCluster": onCluster, "ClusterSettings": clusterSettings, "Host": host,
		"ExporterPasswordHash": hashes[0], "GrafanaPasswordHash": hashes[1], "AnalystPasswordHash": hashes[2],
		"WriterPasswordHash": hashes[3], "MigratorPasswordHash": hashes[4],
		"GrafanaMaxResultRows": c.GrafanaMaxResultRows, "GrafanaMaxExecutionSeconds": c.GrafanaMaxExecutionSeconds,
		"KPIStateReads": kpiStateReads(), "KPIStateWrites": kpiStateWrites(),
		"L": DefaultLimits, "Relations": ReaderRelations, "Scoped": scoped, "ScopedUsers": strings.Join(scopedUsers, ", "),
	})
	if err != nil {
		return nil, fmt.Errorf("render access SQL: %w", err)
	}
	return SplitStatements(sb.String()), nil
}

// ApplyAccess creates or replaces the roles, profiles and users on a server
// that manages users with SQL; on older ones it returns ErrNoSQLAccess.
func ApplyAccess(ctx context.Context, x clickhouse.Executor, c AccessConfig) error {
	d, err := clickhouse.DetectDialect(ctx, x)
	if err != nil {
		return err
	}
	if !d.SQLAccess() {
		return fmt.Errorf("ClickHouse %s: %w", d.Version, ErrNoSQLAccess)
	}
	stmts, err := AccessStatements(c)
	if err != nil {
		return err
	}
	for _, s := range stmts {
		if err := x.Exec(ctx, s); err != nil {
			return fmt.Errorf("access: %s: %w", firstWords(s, 6), err)
		}
	}
	return nil
}

// firstWords names a statement in an error without its password hash.
func firstWords(s string, n int) string {
	f := strings.Fields(s)
	if len(f) > n {
		f = f[:n]
	}
	return strings.Join(f, " ")
}

// ParseHosts parses the HOST clause of the users: a comma-separated list of
// ANY, LOCAL, IP 'address or CIDR', NAME 'host name', REGEXP 'RE2 regexp' or
// LIKE 'pattern', and renders it again with every literal quoted by us, so a
// value cannot end the clause early or comment out the rest of the statement
// (as "ANY --" did when the clause was pasted in as given).
func ParseHosts(s string) (string, error) {
	var items []string
	rest := strings.TrimSpace(s)
	if rest == "" {
		return "", errors.New("empty; want ANY, LOCAL, IP '10.0.0.0/8', NAME 'host', REGEXP 're' or LIKE 'pattern'")
	}
	for {
		n := 0
		for n < len(rest) && (rest[n] >= 'A' && rest[n] <= 'Z' || rest[n] >= 'a' && rest[n] <= 'z') {
			n++
		}
		kind := strings.ToUpper(rest[:n])
		rest = strings.TrimLeft(rest[n:], " \t")
		switch kind {
		case "ANY", "LOCAL":
			items = append(items, kind)
		case "IP", "NAME", "REGEXP", "LIKE":
			value, after, err := hostLiteral(rest)
			if err != nil {
				return "", fmt.Errorf("%s: %w", kind, err)
			}
			rest = after
			if value, err = checkHost(kind, value); err != nil {
				return "", fmt.Errorf("%s %q: %w", kind, value, err)
			}
			items = append(items, kind+" "+clickhouse.Quote(value))
		default:
			return "", fmt.Errorf("at %q: want ANY, LOCAL, IP, NAME, REGEXP or LIKE", rest)
		}
		rest = strings.TrimLeft(rest, " \t")
		if rest == "" {
			return strings.Join(items, ", "), nil
		}
		if rest[0] != ',' {
			return "", fmt.Errorf("at %q: want a comma or the end", rest)
		}
		rest = strings.TrimLeft(rest[1:], " \t")
	}
}

// hostLiteral reads a single-quoted literal from the start of s: a doubled
// quote or a backslash-quote stands for a quote, a doubled backslash for a
// backslash.
func hostLiteral(s string) (value, rest string, err error) {
	if !strings.HasPrefix(s, "'") {
		return "", "", errors.New("want a single-quoted value")
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case c == '\'' && i+1 < len(s) && s[i+1] == '\'':
			i++
			b.WriteByte('\'')
		case c == '\'':
			return b.String(), s[i+1:], nil
		default:
			b.WriteByte(c)
		}
	}
	return "", "", errors.New("unterminated quoted value")
}

// hostName is what NAME accepts: DNS names.
var hostName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$`)

// checkHost validates one value and returns it in canonical form.
func checkHost(kind, v string) (string, error) {
	if strings.IndexFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0 {
		return v, errors.New("control characters are not allowed")
	}
	switch kind {
	case "IP":
		if p, err := netip.ParsePrefix(v); err == nil {
			return p.Masked().String(), nil
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return v, errors.New("want an IP address or a CIDR such as 10.0.0.0/8")
		}
		return a.String(), nil
	case "NAME":
		if !hostName.MatchString(v) {
			return v, errors.New("want a host name (letters, digits, dots and dashes)")
		}
	case "REGEXP":
		if _, err := regexp.Compile(v); err != nil {
			return v, err
		}
	case "LIKE":
		if v == "" {
			return v, errors.New("empty pattern")
		}
	}
	return v, nil
}
