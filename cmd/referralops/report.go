package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/report"
)

var reportCommand = command{
	summary: "write the weekly executive report (HTML, PDF) as of a time; --every keeps writing one per period",
	setup: func(fs *flag.FlagSet, file *fileConfig) (func() error, func(context.Context, *slog.Logger) error) {
		file.ClickHouse.RegisterFlags("", fs)
		// --sla-calendar exactly as `referralops kpi` has it (the same flag
		// value, bound to the config's sla: section); the report's window and
		// timeout are its own, so kpi's other flags are left out.
		var kpiFlags flag.FlagSet
		file.KPI.RegisterFlags("", &kpiFlags)
		calendar := kpiFlags.Lookup("sla-calendar")
		fs.Var(calendar.Value, calendar.Name, calendar.Usage)
		asOfFlag := fs.String("as-of", "", "report time T, RFC 3339 (default now); every number is replayed exactly as of T and the weeks before")
		out := fs.String("out", "reports", "directory to write the report files into (created if missing)")
		formats := fs.String("format", "html,pdf", "output formats, comma-separated: html, pdf")
		weeks := fs.Int("weeks", report.DefaultWeeks, "weekly points of the trends, T included (each one KPI replay)")
		every := fs.Duration("every", 0, "keep running and write a report each period (e.g. 168h), the first as of --as-of; 0 writes one and exits")
		timeout := fs.Duration("timeout", 30*time.Minute, "time allowed for one report (all of its replays)")
		targetsFile := fs.String("targets", "", "YAML file of operating targets (keys of metrics.Targets) over the defaults, as for `referralops dashboards`")
		opts := report.Options{Weeks: report.DefaultWeeks, Window: report.DefaultWindow, WorklistSize: report.DefaultWorklistSize, Targets: metrics.DefaultTargets()}
		var fmts []string
		validate := func() error {
			var errs []error
			opts.AsOf = time.Now().UTC().Truncate(time.Second)
			if *asOfFlag != "" {
				t, err := time.Parse(time.RFC3339, *asOfFlag)
				if err != nil {
					errs = append(errs, fmt.Errorf("as-of: want RFC 3339 like 2026-11-30T00:00:00Z, got %q", *asOfFlag))
				}
				opts.AsOf = t
			}
			fmts = strings.Split(*formats, ",")
			for _, f := range fmts {
				if !slices.Contains(report.Formats, f) {
					errs = append(errs, fmt.Errorf("format: %q is not one of %s", f, strings.Join(report.Formats, ", ")))
				}
			}
			if *out == "" {
				errs = append(errs, errors.New("out: must name a directory"))
			}
			if *every < 0 {
				errs = append(errs, errors.New("every: must be 0 or positive"))
			}
			if *timeout <= 0 {
				errs = append(errs, errors.New("timeout: must be positive"))
			}
			if *targetsFile != "" {
				t, err := metrics.LoadTargets(*targetsFile)
				if err != nil {
					errs = append(errs, fmt.Errorf("targets: %w", err))
				}
				opts.Targets = t
			}
			opts.Weeks = *weeks
			opts.DB = file.ClickHouse.Database()
			opts.Calendar = &file.KPI.SLA
			return errors.Join(append(errs, opts.Validate(), file.ClickHouse.Validate())...)
		}
		return validate, func(ctx context.Context, logger *slog.Logger) error {
			return runReports(ctx, logger, *file.ClickHouse, opts, *out, fmts, *every, *timeout)
		}
	},
}

// runReports writes the report as of opts.AsOf and, with every > 0, one more
// as of each later period once the clock has reached it, until ctx ends.
func runReports(ctx context.Context, logger *slog.Logger, chc clickhouse.Config, opts report.Options, dir string, formats []string, every, timeout time.Duration) error {
	for {
		if wait := time.Until(opts.AsOf); wait > 0 {
			logger.Info("next report", "as_of", opts.AsOf)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
		}
		if err := writeReport(ctx, logger, chc, opts, dir, formats, timeout); err != nil {
			if every == 0 || ctx.Err() != nil {
				return err
			}
			logger.Error("report failed; trying again next period", "as_of", opts.AsOf, "err", err)
		}
		if every == 0 {
			return nil
		}
		opts.AsOf = opts.AsOf.Add(every)
	}
}

func writeReport(ctx context.Context, logger *slog.Logger, chc clickhouse.Config, opts report.Options, dir string, formats []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := clickhouse.Open(ctx, chc)
	if err != nil {
		return err
	}
	defer conn.Close()
	// progress on stderr, through the logger: the 13 replays take a while
	progress := func(step, steps int, what string) {
		logger.Info("report progress", "as_of", opts.AsOf, "step", fmt.Sprintf("%d/%d", step, steps), "done", what)
	}
	r, err := report.Build(ctx, clickhouse.Native{Conn: conn}, opts, progress)
	if err != nil {
		return err
	}
	paths, err := r.Write(dir, formats)
	if err != nil {
		return err
	}
	logger.Info("wrote report", "as_of", r.AsOf, "files", strings.Join(paths, ","))
	return nil
}
