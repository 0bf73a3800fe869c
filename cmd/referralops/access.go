package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/referralops/referralops/internal/clickhouse"

	"github.com/referralops/referralops/schema"
)

var accessCommand = command{
	summary: "create or update the ClickHouse users (readers exporter, grafana, analyst; the ingester's writer; the migrator), their grants, profiles, quotas and site scopes on a current server; --print shows the SQL",
	setup: func(fs *flag.FlagSet, file *fileConfig) (func() error, func(context.Context, *slog.Logger) error) {
		file.ClickHouse.RegisterFlags("", fs)
		c := schema.AccessConfig{Host: "ANY", GrafanaMaxResultRows: 100000, GrafanaMaxExecutionSeconds: 30}
		fs.StringVar(&c.Cluster, "cluster", "", "add ON CLUSTER NAME to every statement")
		fs.StringVar(&c.Host, "user-host", c.Host, "HOST clause of the users: a comma-separated list of ANY, LOCAL, IP 'cidr', NAME 'host', REGEXP 're', LIKE 'pattern'")
		fs.StringVar(&c.ExporterPassword, "exporter-password", "", "password of referralops_exporter (prefer REFERRALOPS_EXPORTER_PASSWORD)")
		fs.StringVar(&c.GrafanaPassword, "grafana-password", "", "password of referralops_grafana (prefer REFERRALOPS_GRAFANA_PASSWORD)")
		fs.StringVar(&c.AnalystPassword, "analyst-password", "", "password of referralops_analyst (prefer REFERRALOPS_ANALYST_PASSWORD)")
		fs.StringVar(&c.WriterPassword, "writer-password", "", "password of referralops_writer, the ingester's user (prefer REFERRALOPS_WRITER_PASSWORD)")
		fs.StringVar(&c.MigratorPassword, "migrator-password", "", "password of referralops_migrator, migrate's user (prefer REFERRALOPS_MIGRATOR_PASSWORD)")
		fs.Func("grafana-locations", "comma-separated location_ids: scope referralops_grafana to their rows (row policies; default: every site)", listFlag(&c.GrafanaLocations))
		fs.Func("analyst-locations", "comma-separated location_ids: scope referralops_analyst to their rows (row policies; default: every site)", listFlag(&c.AnalystLocations))
		fs.IntVar(&c.GrafanaMaxResultRows, "grafana-max-result-rows", c.GrafanaMaxResultRows, "most rows a Grafana query may return")
		fs.IntVar(&c.GrafanaMaxExecutionSeconds, "grafana-max-execution-seconds", c.GrafanaMaxExecutionSeconds, "longest a Grafana query may run, in seconds")
		print := fs.Bool("print", false, "write the SQL to stdout instead of applying it (passwords appear only as bcrypt hashes)")
		validate := func() error {
			if err := file.ClickHouse.Validate(); err != nil {
				return err
			}
			c.Database = file.ClickHouse.Database()
			return c.Validate()
		}
		return validate, func(ctx context.Context, logger *slog.Logger) error {
			if *print {
				stmts, err := schema.AccessStatements(c)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(os.Stdout, strings.Join(stmts, ";\n")+";")
				return err
			}
			conn, err := clickhouse.Open(ctx, *file.ClickHouse)
			if err != nil {
				return err
			}
			defer conn.Close()
			if err := schema.ApplyAccess(ctx, clickhouse.Native{Conn: conn}, c); err != nil {
				return err
			}
			logger.Info("access applied", "database", c.Database, "users",
				strings.Join([]string{schema.ExporterUser, schema.GrafanaUser, schema.AnalystUser, schema.WriterUser, schema.MigratorUser}, ","))
			return nil
		}
	},
}

// listFlag sets *dst to a flag's comma-separated values.
func listFlag(dst *[]string) func(string) error {
	return func(v string) error {
		*dst = nil
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				*dst = append(*dst, f)
			}
		}
		return nil
	}
}
