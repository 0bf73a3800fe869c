package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/referralops/referralops/ingest/dlq"
	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/broker"
)

var dlqCommand = command{
	summary: "list the dead letters, or replay one reason's to their source topics after a fix",
	actions: map[string]command{
		"list": {
			summary: "one line per dead letter (reason, source, sizes, error; never values) and a summary by reason",
			setup: func(fs *flag.FlagSet, file *fileConfig) (func() error, func(context.Context, *slog.Logger) error) {
				var f dlqFilter
				f.register(fs, file, "only dead letters of this reason")
				format := fs.String("format", "text", "output: text or json")
				validate := func() error {
					err := f.validate(false)
					if *format != "text" && *format != "json" {
						err = errors.Join(err, fmt.Errorf("format: %q is not text or json", *format))
					}
					return errors.Join(err, file.Kafka.Validate())
				}
				return validate, func(ctx context.Context, logger *slog.Logger) error {
					return listDeadLetters(ctx, *file.Kafka, f.filter, *format, os.Stdout)
				}
			},
		},
		"replay": {
			summary: "re-produce one reason's dead letters to their source topics, each once (--dry-run: count only)",
			setup: func(fs *flag.FlagSet, file *fileConfig) (func() error, func(context.Context, *slog.Logger) error) {
				var f dlqFilter
				f.register(fs, file, "replay the dead letters of this reason (required)")
				fs.StringVar(&file.Ingest.Group, "group", file.Ingest.Group, "the ingester's consumer group; the replayed dead letters are remembered in the group <group>-dlq-replay-<reason>")
				dry := fs.Bool("dry-run", false, "count what would be replayed; produce and remember nothing")
				validate := func() error {
					err := f.validate(true)
					if file.Ingest.Group == "" {
						err = errors.Join(err, errors.New("group: must not be empty"))
					}
					return errors.Join(err, file.Kafka.Validate())
				}
				return validate, func(ctx context.Context, logger *slog.Logger) error {
					r := dlq.Replay{Filter: f.filter, Group: file.Ingest.Group, DryRun: *dry, Progress: os.Stderr}
					return replayDeadLetters(ctx, logger, *file.Kafka, r)
				}
			},
		},
	},
}

// dlqFilter is the --reason and --since flags both actions share.
type dlqFilter struct {
	since  string
	filter dlq.Filter
}

func (f *dlqFilter) register(fs *flag.FlagSet, file *fileConfig, reasonUsage string) {
	file.Kafka.RegisterFlags(fs)
	fs.StringVar(&f.filter.Reason, "reason", "", reasonUsage+": "+strings.Join(reasonNames(), ", "))
	fs.StringVar(&f.since, "since", "", "only dead letters written at or after this time: RFC 3339 (2026-03-01T00:00:00Z) or a duration ago (24h)")
}

func (f *dlqFilter) validate(reasonRequired bool) error {
	var errs []error
	switch {
	case f.filter.Reason == "" && reasonRequired:
		errs = append(errs, errors.New("reason: required"))
	case f.filter.Reason != "" && !slices.Contains(reasonNames(), f.filter.Reason):
		errs = append(errs, fmt.Errorf("reason: %q is not one of %s", f.filter.Reason, strings.Join(reasonNames(), ", ")))
	}
	if f.since != "" {
		if t, err := time.Parse(time.RFC3339, f.since); err == nil {
			f.filter.Since = t
		} else if d, err := time.ParseDuration(f.since); err == nil && d > 0 {
			f.filter.Since = time.Now().Add(-d)
		} else {
			errs = append(errs, fmt.Errorf("since: %q is neither an RFC 3339 time nor a positive duration", f.since))
		}
		// A replay passes over the dead letters before --since for good: a
		// time in the future would pass over every one.
		if f.filter.Since.After(time.Now()) {
			errs = append(errs, fmt.Errorf("since: %s is in the future", f.since))
		}
	}
	return errors.Join(errs...)
}

func reasonNames() []string {
	var names []string
	for _, r := range append(event.Reasons(), event.ReasonInternalError) {
		names = append(names, string(r))
	}
	return names
}

// dlqSummary is the count of dead letters of one reason.
type dlqSummary struct {
	Reason        string `json:"reason"`
	DeadLetters   int    `json:"dead_letters"`
	Replayable    int    `json:"replayable"`
	NotReplayable int    `json:"not_replayable"`
}

func listDeadLetters(ctx context.Context, kc broker.Config, f dlq.Filter, format string, out io.Writer) error {
	letters := []dlq.Letter{} // [] in JSON when there are none
	byReason := map[string]*dlqSummary{}
	err := dlq.List(ctx, kc, f, func(l dlq.Letter) error {
		s := byReason[l.Reason]
		if s == nil {
			s = &dlqSummary{Reason: l.Reason}
			byReason[l.Reason] = s
		}
		s.DeadLetters++
		if l.Replayable {
			s.Replayable++
		} else {
			s.NotReplayable++
		}
		if format == "json" {
			letters = append(letters, l)
			return nil
		}
		replayable := "yes"
		if !l.Replayable {
			replayable = "no (" + l.NotReplayable + ")"
		}
		_, err := fmt.Fprintf(out, "time=%s dead_letter=%d/%d reason=%s source=%s/%d/%d key_bytes=%d value_bytes=%d original_headers=%d replayable=%q error=%q\n",
			l.Time.Format(time.RFC3339Nano), l.Partition, l.Offset, l.Reason, l.SourceTopic, l.SourcePartition, l.SourceOffset,
			l.KeyBytes, l.ValueBytes, l.Headers, replayable, l.Error)
		return err
	})
	if err != nil {
		return err
	}
	summary := make([]dlqSummary, 0, len(byReason))
	for _, r := range slices.Sorted(maps.Keys(byReason)) {
		summary = append(summary, *byReason[r])
	}
	if format == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			DeadLetters []dlq.Letter `json:"dead_letters"`
			Summary     []dlqSummary `json:"summary"`
		}{letters, summary})
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nreason\tdead letters\treplayable\tnot replayable")
	var total dlqSummary
	for _, s := range summary {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", s.Reason, s.DeadLetters, s.Replayable, s.NotReplayable)
		total.DeadLetters += s.DeadLetters
		total.Replayable += s.Replayable
		total.NotReplayable += s.NotReplayable
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t%d\n", total.DeadLetters, total.Replayable, total.NotReplayable)
	return tw.Flush()
}

func replayDeadLetters(ctx context.Context, logger *slog.Logger, kc broker.Config, r dlq.Replay) error {
	if err := broker.WaitForTopics(ctx, kc, append(kc.Topics.Inputs(), kc.Topics.DeadLetters), logger); err != nil {
		return err
	}
	n, err := r.Run(ctx, kc)
	verb := "replayed"
	if r.DryRun {
		verb = "would replay (dry run)"
	}
	fmt.Fprintf(os.Stderr, "dlq replay: reason %s: %s %d, not replayable %d (truncated or stubs), before --since %d\n",
		r.Reason, verb, n.Replayed, n.NotReplayable, n.BeforeSince)
	return err
}
