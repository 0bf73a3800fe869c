package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/metrics/kpi"
)

var kpiCommand = command{
	summary: "print the KPIs as of a time: a table, or the JSON contract (--format json)",
	setup: func(fs *flag.FlagSet, file *fileConfig) (func() error, func(context.Context, *slog.Logger) error) {
		file.ClickHouse.RegisterFlags("", fs)
		file.KPI.RegisterFlags("", fs)
		asOfFlag := fs.String("as-of", "", "evaluation time T, RFC 3339 (default now); events after T are ignored, so a past T replays exactly")
		format := fs.String("format", "table", "output: table (for people) or json (one object per window; an array of them when there are several windows)")
		var asOf time.Time
		validate := func() error {
			var errs []error
			if *format != "table" && *format != "json" {
				errs = append(errs, fmt.Errorf("format: %q is not table or json", *format))
			}
			asOf = time.Now()
			if *asOfFlag != "" {
				t, err := time.Parse(time.RFC3339, *asOfFlag)
				if err != nil {
					errs = append(errs, fmt.Errorf("as-of: want RFC 3339 like 2026-03-31T00:00:00Z, got %q", *asOfFlag))
				}
				asOf = t
			}
			return errors.Join(append(errs, file.ClickHouse.Validate(), file.KPI.Validate())...)
		}
		return validate, func(ctx context.Context, logger *slog.Logger) error {
			return printKPIs(ctx, *file.ClickHouse, *file.KPI, asOf, *format)
		}
	},
}

func printKPIs(ctx context.Context, chc clickhouse.Config, cfg kpi.Config, asOf time.Time, format string) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	conn, err := clickhouse.Open(ctx, chc)
	if err != nil {
		return err
	}
	defer conn.Close()
	req := kpi.Request{DB: chc.Database(), AsOf: asOf, Windows: cfg.Windows, Attention: true, Calendar: &cfg.SLA, State: cfg.State}
	s, err := req.Evaluate(ctx, clickhouse.Native{Conn: conn})
	if err != nil {
		return err
	}
	w := bufio.NewWriter(os.Stdout)
	if format == "json" {
		err = kpi.WriteJSON(w, s)
	} else {
		err = kpi.WriteTable(w, s)
	}
	if err != nil {
		return err
	}
	return w.Flush()
}
