package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/generator"
)

var generateCommand = command{
	summary: "simulate a referral network and write its events to Kafka or NDJSON",
	setup: func(fs *flag.FlagSet, file *fileConfig) (func() error, func(context.Context, *slog.Logger) error) {
		gen := generator.DefaultConfig()
		gen.RegisterFlags(fs)
		file.Kafka.RegisterFlags(fs)
		fs.IntVar(&file.Event.MaxMessageBytes, "max-message-bytes", file.Event.MaxMessageBytes, "the ingester's message size limit; too_large invalid messages are one byte over it")
		out := fs.String("out", "", "write NDJSON to this file (- for stdout) instead of producing to Kafka")
		validate := func() error {
			gen.MaxMessageBytes = file.Event.MaxMessageBytes
			err := gen.Validate()
			if *out != "" && gen.BinaryRatio > 0 && isFlagDefault(fs, "binary-ratio") {
				gen.BinaryRatio = 0 // NDJSON holds values only: binary mode needs headers
			}
			if *out == "" {
				err = errors.Join(err, file.Kafka.Validate())
			}
			return err
		}
		return validate, func(ctx context.Context, logger *slog.Logger) error {
			if *out != "" {
				return generateNDJSON(ctx, logger, gen, *out)
			}
			return generateKafka(ctx, logger, gen, *file.Kafka)
		}
	},
}

func isFlagDefault(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return !set
}

func generateNDJSON(ctx context.Context, logger *slog.Logger, cfg generator.Config, path string) error {
	var w io.Writer = os.Stdout
	if path != "-" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	progress := generator.NewProgress(cfg, os.Stderr)
	write := generator.WriteNDJSON(bw)
	stats, err := generator.Generate(ctx, cfg, func(m generator.Message) error {
		progress.Add(1)
		return write(m)
	})
	progress.Finish()
	if err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	logger.Info("generated", "out", path, "referrals", stats.Referrals, "messages", stats.Events+stats.Duplicates+stats.Invalid,
		"events", stats.Events, "duplicates", stats.Duplicates, "invalid", stats.Invalid)
	return nil
}

func generateKafka(ctx context.Context, logger *slog.Logger, cfg generator.Config, kc broker.Config) error {
	if err := broker.WaitForTopics(ctx, kc, kc.Topics.Inputs(), logger); err != nil {
		return err
	}
	p, err := broker.NewProducer(kc, 5000)
	if err != nil {
		return err
	}
	progress := generator.NewProgress(cfg, os.Stderr)
	stats, err := generator.Generate(ctx, cfg, func(m generator.Message) error {
		progress.Add(1)
		return p.Send(ctx, kc.Topics.For(m.Stream), m.Key, m.Value, broker.Headers(m.Headers))
	})
	progress.Finish()
	if cerr := p.Close(context.WithoutCancel(ctx)); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("after %d messages acknowledged: %w", p.Written(), err)
	}
	logger.Info("produced", "brokers", kc.Brokers.String(), "referrals", stats.Referrals, "messages", p.Written(),
		"events", stats.Events, "duplicates", stats.Duplicates, "invalid", stats.Invalid)
	return nil
}
