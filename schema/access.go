package schema

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"text/template"

	"github.com/referralops/referralops/internal/clickhouse"
)

// The users `referralops access` creates: read-only, each with its own
// settings profile. The same names are in deploy/local/clickhouse/users.xml.tmpl
// for ClickHouse 18.16, which has no SQL user management.
const (
	ExporterUser = "referralops_exporter"
	GrafanaUser  = "referralops_grafana"
	AnalystUser  = "referralops_analyst"
)

// ErrNoSQLAccess means the server predates SQL-driven access control (20.5).
var ErrNoSQLAccess = errors.New("this ClickHouse server has no SQL user management (CREATE USER needs 20.5+); define the users in its users.xml, as deploy/local/clickhouse/users.xml.tmpl does")

// AccessConfig is what the access SQL needs. Passwords are given in clear and
// only their SHA-256 reaches the server or the rendered SQL.
type AccessConfig struct {
	// Database the reader role may SELECT from.
	Database string
	// Cluster, when set, adds ON CLUSTER to every statement that allows it.
	Cluster string
	// Host is the HOST clause of the users: "ANY", "LOCAL", "IP '10.0.0.0/8'" ...
	Host string
	// Passwords of the three users; none may be empty.
	ExporterPassword, GrafanaPassword, AnalystPassword string
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
	if strings.ContainsAny(c.Host, ";\n") || c.Host == "" {
		errs = append(errs, fmt.Errorf("host: want a HOST clause such as ANY, LOCAL or IP '10.0.0.0/8', got %q", c.Host))
	}
	for _, p := range []struct{ user, password string }{
		{ExporterUser, c.ExporterPassword}, {GrafanaUser, c.GrafanaPassword}, {AnalystUser, c.AnalystPassword},
	} {
		if p.password == "" {
			errs = append(errs, fmt.Errorf("password of %s: must not be empty", p.user))
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
	var sb strings.Builder
	err = t.Execute(&sb, map[string]any{
		"DB": c.Database, "OnCluster": onCluster, "ClusterSettings": clusterSettings, "Host": c.Host,
		"ExporterPasswordSHA256": sha256Hex(c.ExporterPassword),
		"GrafanaPasswordSHA256":  sha256Hex(c.GrafanaPassword),
		"AnalystPasswordSHA256":  sha256Hex(c.AnalystPassword),
		"GrafanaMaxResultRows":   c.GrafanaMaxResultRows, "GrafanaMaxExecutionSeconds": c.GrafanaMaxExecutionSeconds,
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

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// firstWords names a statement in an error without its password hash.
func firstWords(s string, n int) string {
	f := strings.Fields(s)
	if len(f) > n {
		f = f[:n]
	}
	return strings.Join(f, " ")
}
