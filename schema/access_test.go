package schema_test

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/schema"
)

var bcryptHash = regexp.MustCompile(`\$2a\$10\$[./A-Za-z0-9]{53}`)

func accessConfig() schema.AccessConfig {
	return schema.AccessConfig{
		Database: "referralops", Host: "ANY",
		ExporterPassword: "exporter-secret", GrafanaPassword: "grafana-secret", AnalystPassword: "analyst-secret",
		WriterPassword: "writer-secret", MigratorPassword: "migrator-secret",
		GrafanaMaxResultRows: 100000, GrafanaMaxExecutionSeconds: 30,
		GrafanaLocations: []string{"LOC-MAIN-01", "site-02"}, AnalystLocations: []string{"site-02"},
	}
}

// TestAccessStatements pins the rendered access SQL (golden; -update rewrites)
// and checks what matters for least privilege in it.
func TestAccessStatements(t *testing.T) {
	for _, cluster := range []string{"", "c1"} {
		c := accessConfig()
		c.Cluster = cluster
		stmts, err := schema.AccessStatements(c)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Join(stmts, ";\n") + ";\n"
		// bcrypt salts every hash: check each against its password, then pin the rest.
		hashes := bcryptHash.FindAllString(text, -1)
		passwords := []string{c.ExporterPassword, c.GrafanaPassword, c.AnalystPassword, c.WriterPassword, c.MigratorPassword}
		if len(hashes) != len(passwords) {
			t.Fatalf("%d bcrypt hashes in the SQL, want %d:\n%s", len(hashes), len(passwords), text)
		}
		for i, p := range passwords {
			if err := bcrypt.CompareHashAndPassword([]byte(hashes[i]), []byte(p)); err != nil {
				t.Errorf("hash %d does not verify its password: %v", i, err)
			}
		}
		text = bcryptHash.ReplaceAllString(text, "<bcrypt>")
		golden := filepath.Join("testdata", "access.sql")
		if cluster != "" {
			golden = filepath.Join("testdata", "access-cluster.sql")
		}
		if *update {
			if err := os.WriteFile(golden, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if text != string(want) {
			t.Errorf("access SQL differs from %s (run go test -run TestAccessStatements -update):\n%s", golden, text)
		}
		for _, secret := range passwords {
			if strings.Contains(text, secret) {
				t.Errorf("a clear-text password is in the SQL")
			}
		}
		// Only the writer may insert, only into the events; only the
		// migrator gets more; readers SELECT the PHI-free database alone.
		onCluster := ""
		if cluster != "" {
			onCluster = " ON CLUSTER " + cluster
		}
		beyondSelect := map[string]bool{
			"GRANT" + onCluster + " INSERT ON referralops_phi.events TO referralops_writer":             true,
			"GRANT" + onCluster + " INSERT ON referralops.referral_patient_order TO referralops_writer": true,
			// the KPI state the ingester keeps (migrations 0018, 0019)
			"GRANT" + onCluster + " INSERT ON referralops.kpi_state_passes TO referralops_writer":             true,
			"GRANT" + onCluster + " INSERT ON referralops.kpi_state_index TO referralops_writer":              true,
			"GRANT" + onCluster + " INSERT ON referralops.referral_facts_by_created TO referralops_writer":    true,
			"GRANT" + onCluster + " INSERT ON referralops.referral_stages_by_created TO referralops_writer":   true,
			"GRANT" + onCluster + " INSERT ON referralops.appointment_facts_by_created TO referralops_writer": true,
			// and its CMS50-style tables (migration 0019)
			"GRANT" + onCluster + " INSERT ON referralops.referral_patient_order_by_created TO referralops_writer": true,
			"GRANT" + onCluster + " INSERT ON referralops.referrer_notes_by_created TO referralops_writer":         true,
			"GRANT" + onCluster + " ALL ON referralops.* TO referralops_migrator":                                  true,
			"GRANT" + onCluster + " ALL ON referralops_phi.* TO referralops_migrator":                              true,
			"GRANT" + onCluster + " CLUSTER ON *.* TO referralops_migrator":                                        cluster != "",
		}
		policies := 0
		for _, s := range stmts {
			up := strings.ToUpper(s)
			if strings.HasPrefix(up, "GRANT") && strings.Contains(up, " ON ") &&
				(strings.Contains(up, "INSERT") || strings.Contains(up, "ALTER") || strings.Contains(up, " ALL") || strings.Contains(up, " CREATE") || strings.Contains(up, "CLUSTER ON")) &&
				!beyondSelect[s] {
				t.Errorf("a grant beyond SELECT: %s", s)
			}
			if strings.HasPrefix(up, "GRANT") && strings.Contains(s, "_phi") && !strings.HasSuffix(s, "referralops_writer") && !strings.HasSuffix(s, "referralops_migrator") {
				t.Errorf("a reader is granted the PHI database: %s", s)
			}
			if strings.HasPrefix(s, "CREATE ROW POLICY") {
				policies++
			}

			if cluster != "" && !strings.Contains(s, "ON CLUSTER c1") {
				t.Errorf("statement without ON CLUSTER c1: %s", s)
			}
		}
		if got := strings.Count(text, "distributed_product_mode = 'local'"); (cluster != "") != (got == 3) || (cluster == "" && got != 0) {
			t.Errorf("cluster %q: distributed_product_mode in %d profiles, want 3 on a cluster and none otherwise", cluster, got)
		}
		// On every relation: one policy per scoped user (grafana, analyst),
		// one for everyone else.
		if want := 3 * len(schema.ReaderRelations); policies != want {
			t.Errorf("%d row policies, want %d", policies, want)
		}
		if !strings.Contains(text, "max_execution_time = 30, max_result_rows = 100000") {
			t.Errorf("the grafana profile lost its limits:\n%s", text)
		}
	}
}

func TestAccessConfigValidate(t *testing.T) {
	c := accessConfig()
	c.ExporterPassword, c.Host, c.Database = "", "ANY --", "bad name"
	err := c.Validate()
	if err == nil {
		t.Fatal("invalid access config accepted")
	}
	for _, want := range []string{"password of referralops_exporter", "host:", "bad name"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestAccessSQLParsesOnChDB: chDB runs as clickhouse-local, which has no
// writable access storage, so CREATE USER cannot run there; every statement
// must at least parse on 26.7. (18.16 has no SQL user management at all.)
func TestAccessSQLParsesOnChDB(t *testing.T) {
	q := testenv.ChDB(t)
	ctx := context.Background()
	if _, err := q.Query(ctx, "EXPLAIN AST CREATE USER x IDENTIFIED WITH bcrypt_hash BY 'ab' garbage"); err == nil {
		t.Fatal("EXPLAIN AST accepted a syntax error: the check below would prove nothing")
	}
	for _, cluster := range []string{"", "c1"} {
		c := accessConfig()
		c.Cluster = cluster
		stmts, err := schema.AccessStatements(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range stmts {
			if _, err := q.Query(ctx, "EXPLAIN AST "+s); err != nil {
				t.Errorf("does not parse on chDB %s: %v\n%s", q.Dialect.Version, err, s)
			}
		}
	}
}

func TestApplyAccessRefusesOldServer(t *testing.T) {
	e := testenv.Server(t)
	if e.Dialect.SQLAccess() {
		t.Skipf("server %s manages users with SQL", e.Dialect.Version)
	}
	err := schema.ApplyAccess(context.Background(), e, accessConfig())
	if !errors.Is(err, schema.ErrNoSQLAccess) {
		t.Fatalf("ApplyAccess on %s: %v, want ErrNoSQLAccess", e.Dialect.Version, err)
	}
}

// TestParseHosts: every form ClickHouse's HOST clause takes comes back in
// canonical form with our own quoting; anything else, above all a value that
// would end the clause or comment out the rest of the statement, is an error.
func TestParseHosts(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"ANY", "ANY"},
		{" local ", "LOCAL"},
		{"IP '10.1.2.3/8'", "IP '10.0.0.0/8'"},
		{"IP '::1', IP '192.168.0.7'", "IP '::1', IP '192.168.0.7'"},
		{"NAME 'grafana.example.org',LOCAL", "NAME 'grafana.example.org', LOCAL"},
		{`REGEXP '^grafana-\\d+\\.svc$'`, `REGEXP '^grafana-\\d+\\.svc$'`},
		{`REGEXP 'a''b'`, `REGEXP 'a\'b'`},
		{"LIKE '%.example.org'", "LIKE '%.example.org'"},
	} {
		got, err := schema.ParseHosts(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseHosts(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"", "empty"},
		{"ANY --", `at "--": want a comma`},
		{"ANY SETTINGS PROFILE 'default'", `at "SETTINGS`},
		{"ANY; DROP USER referralops_exporter", `at "; DROP`},
		{"IP '10.0.0.0/8' -- rest", `at "-- rest"`},
		{"NAME 'x' /* ", `at "/*"`},
		{"IP '10.0.0.0/8' SETTINGS readonly = 0", `at "SETTINGS`},
		{"IP 'not-an-ip'", "want an IP address or a CIDR"},
		{"IP '10.0.0.0/8'' OR 1", "unterminated"},
		{`NAME 'a\' SETTINGS x = 1 --'`, "want a host name"},
		{"NAME 'evil\nhost'", "control characters"},
		{"REGEXP '(['", "missing closing ]"},
		{"LIKE ''", "empty pattern"},
		{"LIKE 'x", "unterminated"},
		{"IP 10.0.0.1", "single-quoted"},
		{"DEFAULT", "want ANY, LOCAL"},
		{"ANY,", "want ANY, LOCAL"},
	} {
		got, err := schema.ParseHosts(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseHosts(%q) = %q, %v; want an error containing %q", c.in, got, err, c.want)
		}
	}
}

// TestAccessHostInjectionParsesOnChDB: a REGEXP or LIKE value full of quotes,
// backslashes and comment markers stays one literal in the CREATE USER that
// 26.7 parses, and the clause renders back to the value it was given.
func TestAccessHostInjectionParsesOnChDB(t *testing.T) {
	q := testenv.ChDB(t)
	c := accessConfig()
	c.Host = `REGEXP '\\'' SETTINGS PROFILE ''default'' -- /*', LIKE '%\'; DROP USER x; --'`
	stmts, err := schema.AccessStatements(c)
	if err != nil {
		t.Fatal(err)
	}
	const want = `HOST REGEXP '\\\' SETTINGS PROFILE \'default\' -- /*', LIKE '%\'; DROP USER x; --' SETTINGS PROFILE`
	found := false
	for _, s := range stmts {
		if _, err := q.Query(context.Background(), "EXPLAIN AST "+s); err != nil {
			t.Errorf("does not parse on chDB %s: %v\n%s", q.Dialect.Version, err, s)
		}
		found = found || strings.Contains(s, want)
	}
	if !found {
		t.Errorf("no CREATE USER with %s in:\n%s", want, strings.Join(stmts, "\n"))
	}
}

// TestReaderRelations: schema.ReaderRelations, what the access SQL scopes,
// are the tables and views of a migrated database (all readable since 0008),
// and Located are exactly those with a location_id column.
func TestReaderRelations(t *testing.T) {
	e := testenv.ChDB(t)
	db := e.Migrated(t)
	rows, err := e.Query(context.Background(), "SELECT name, toUInt8(engine = 'View'), toUInt8(name IN (SELECT table FROM system.columns WHERE database = '"+db+"' AND name = 'location_id')) FROM system.tables WHERE database = '"+db+"' ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, r := range rows {
		got = append(got, strings.Join(r, " "))
	}
	for _, r := range schema.ReaderRelations {
		want = append(want, fmt.Sprintf("%s %d %d", r.Name, b2i(r.View), b2i(r.Located)))
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("relations of a migrated database (name, view, located)\n got %q\nwant %q", got, want)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestLimitsInUsersXML: 18.16's users.xml.tmpl holds schema.DefaultLimits,
// the numbers of the access SQL for current servers.
func TestLimitsInUsersXML(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "deploy", "local", "clickhouse", "users.xml.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Profiles struct {
			Analyst struct {
				Readonly         int   `xml:"readonly"`
				MaxExecutionTime int   `xml:"max_execution_time"`
				MaxMemoryUsage   int64 `xml:"max_memory_usage"`
				MaxRowsToRead    int64 `xml:"max_rows_to_read"`
			} `xml:"analyst"`
		} `xml:"profiles"`
		Quotas struct {
			Reader  quotaXML `xml:"reader"`
			Analyst quotaXML `xml:"analyst"`
		} `xml:"quotas"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	l := schema.DefaultLimits
	a := doc.Profiles.Analyst
	if a.Readonly != 1 || a.MaxExecutionTime != l.AnalystMaxExecutionSeconds || a.MaxMemoryUsage != l.AnalystMaxMemoryBytes || a.MaxRowsToRead != l.AnalystMaxRowsToRead {
		t.Errorf("analyst profile %+v, want readonly 1 and the limits of %+v", a, l)
	}
	for _, q := range []struct {
		name                     string
		got                      quotaXML
		queries, errs, execution int
		resultRows, readRows     int64
	}{
		{"reader", doc.Quotas.Reader, l.ReaderQueriesPerHour, l.ReaderErrorsPerHour, l.ReaderExecutionSecondsPerHour, l.ReaderResultRowsPerHour, l.ReaderReadRowsPerHour},
		{"analyst", doc.Quotas.Analyst, l.AnalystQueriesPerHour, l.AnalystErrorsPerHour, l.AnalystExecutionSecondsPerHour, l.AnalystResultRowsPerHour, l.AnalystReadRowsPerHour},
	} {
		i := q.got.Interval
		if i.Duration != 3600 || i.Queries != q.queries || i.Errors != q.errs || i.ExecutionTime != q.execution || i.ResultRows != q.resultRows || i.ReadRows != q.readRows {
			t.Errorf("quota %s %+v, want an hour of %d queries, %d errors, %d s, %d result rows, %d read rows", q.name, i, q.queries, q.errs, q.execution, q.resultRows, q.readRows)
		}
	}
}

type quotaXML struct {
	Interval struct {
		Duration      int   `xml:"duration"`
		Queries       int   `xml:"queries"`
		Errors        int   `xml:"errors"`
		ResultRows    int64 `xml:"result_rows"`
		ReadRows      int64 `xml:"read_rows"`
		ExecutionTime int   `xml:"execution_time"`
	} `xml:"interval"`
}
