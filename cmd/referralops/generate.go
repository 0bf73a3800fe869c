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

	"github.com/referralops/referralops/ingest/mapping"
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/sitefeed"
)

// formatCloudEvents is generate's default --format: the contract's own events.
const formatCloudEvents = "cloudevents"

var generateCommand = command{
	summary: "simulate a referral network and write its events to Kafka or NDJSON (as CloudEvents, HL7 v2 or FHIR R4)",
	setup: func(fs *flag.FlagSet, file *fileConfig) (func() error, func(context.Context, *slog.Logger) error) {
		gen := generator.DefaultConfig()
		gen.RegisterFlags(fs)
		file.Kafka.RegisterFlags(fs)
		fs.IntVar(&file.Event.MaxMessageBytes, "max-message-bytes", file.Event.MaxMessageBytes, "the ingester's message size limit; too_large invalid messages are one byte over it")
		out := fs.String("out", "", "write NDJSON to this file (- for stdout) instead of producing to Kafka; with --format hl7v2|fhir the format's messages")
		outCE := fs.String("out-cloudevents", "", "with --format hl7v2|fhir and --out: the file of the CloudEvents that travel beside the feed")
		siteIn := fs.String("site-config", "", "with --site-config-out: the site config whose tables map the feed's codes (docs/examples/site-config.yaml)")
		siteOut := fs.String("site-config-out", "", "write the site config to use with the simulated feed here: --site-config's tables plus the network's provider directory (terminology.referrer_type_by_provider), so referrer types map per provider as the simulation draws them")
		format := fs.String("format", formatCloudEvents, "cloudevents, or hl7v2 / fhir: the same network as a hospital's HL7 v2 or FHIR R4 feed (to --topic-hl7v2 / --topic-fhir), with the events the format does not carry as CloudEvents")
		validate := func() error {
			gen.MaxMessageBytes = file.Event.MaxMessageBytes
			err := gen.Validate()
			if *out != "" && gen.BinaryRatio > 0 && isFlagDefault(fs, "binary-ratio") {
				gen.BinaryRatio = 0 // NDJSON holds values only: binary mode needs headers
			}
			if *out == "" {
				err = errors.Join(err, file.Kafka.Validate())
			}
			switch *format {
			case formatCloudEvents:
				if *outCE != "" {
					err = errors.Join(err, errors.New("out-cloudevents: only with --format hl7v2|fhir"))
				}
			case string(mapping.FormatHL7v2), string(mapping.FormatFHIR):
				if *out != "" && *outCE == "" {
					err = errors.Join(err, errors.New("out-cloudevents: required with --format "+*format+" and --out (the events the format does not carry)"))
				}
				if *out == "" && standardTopic(*file.Kafka, mapping.Format(*format)) == "" {
					err = errors.Join(err, errors.New("topic-"+*format+": required with --format "+*format))
				}
			default:
				err = errors.Join(err, fmt.Errorf("format: %q is not cloudevents, hl7v2 or fhir", *format))
			}
			if (*siteIn == "") != (*siteOut == "") {
				err = errors.Join(err, errors.New("site-config, site-config-out: set both or neither"))
			}
			return err
		}
		return validate, func(ctx context.Context, logger *slog.Logger) error {
			if *siteOut != "" {
				if err := writeSiteConfig(gen, *siteIn, *siteOut); err != nil {
					return err
				}
			}
			f := mapping.Format(*format)
			if *format == formatCloudEvents {
				f = ""
			}
			if *out != "" {
				return generateFiles(ctx, logger, gen, f, *out, *outCE)
			}
			return generateKafka(ctx, logger, gen, f, *file.Kafka)
		}
	},
}

// writeSiteConfig writes the site config of the simulated feed: the tables
// of path in and the network's provider directory. The directory names
// providers only (no patient data); its ids are written to the file, never
// logged.
func writeSiteConfig(cfg generator.Config, in, out string) error {
	base, err := mapping.LoadConfig(in)
	if err != nil {
		return fmt.Errorf("site-config: %w", err)
	}
	site := sitefeed.SiteConfig(base, generator.Providers(cfg))
	if err := site.Validate(); err != nil {
		return fmt.Errorf("site-config: %s: %w", in, err)
	}
	b, err := site.Marshal()
	if err != nil {
		return err
	}
	header := "# Written by `referralops generate --site-config " + in + " --site-config-out`: its tables and the\n" +
		"# simulated network's provider directory (referrer_type_by_provider).\n"
	return os.WriteFile(out, append([]byte(header), b...), 0o644)
}

func isFlagDefault(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return !set
}

// createOut opens path for writing ("-" is stdout), buffered.
func createOut(path string) (*bufio.Writer, func() error, error) {
	var w io.Writer = os.Stdout
	closeFile := func() error { return nil }
	if path != "-" {
		f, err := os.Create(path)
		if err != nil {
			return nil, nil, err
		}
		w, closeFile = f, f.Close
	}
	return bufio.NewWriterSize(w, 1<<20), closeFile, nil
}

// generateFiles writes the CloudEvents as NDJSON to path; with a standard
// format f, path gets the format's messages (HL7 v2 one after another, as
// convert reads them; FHIR one JSON per line) and ceOut the CloudEvents
// beside them.
func generateFiles(ctx context.Context, logger *slog.Logger, cfg generator.Config, f mapping.Format, path, ceOut string) error {
	bw, closeOut, err := createOut(path)
	if err != nil {
		return err
	}
	defer closeOut()
	ceW, closeCE := bw, func() error { return nil }
	var feed *sitefeed.Feed
	if f != "" {
		feed = sitefeed.New(f)
		if ceW, closeCE, err = createOut(ceOut); err != nil {
			return err
		}
		defer closeCE()
	}
	progress := generator.NewProgress(cfg, os.Stderr)
	writeCE := generator.WriteNDJSON(ceW)
	standard := 0
	stats, err := generator.Generate(ctx, cfg, func(m generator.Message) error {
		progress.Add(1)
		if feed == nil {
			return writeCE(m)
		}
		r := feed.Convert(m)
		if !r.Standard {
			return writeCE(m)
		}
		standard++
		if _, err := bw.Write(r.Value); err != nil {
			return err
		}
		if f == mapping.FormatHL7v2 {
			return nil // each message ends with \r; the next MSH starts the next one
		}
		return bw.WriteByte('\n')
	})
	progress.Finish()
	if err != nil {
		return err
	}
	for _, w := range []*bufio.Writer{bw, ceW} {
		if err := w.Flush(); err != nil {
			return err
		}
	}
	if err := closeCE(); err != nil {
		return err
	}
	if err := closeOut(); err != nil {
		return err
	}
	logger.Info("generated", "out", path, "format", formatName(f), "referrals", stats.Referrals,
		"messages", stats.Events+stats.Duplicates+stats.Invalid, "standard_messages", standard,
		"events", stats.Events, "duplicates", stats.Duplicates, "invalid", stats.Invalid)
	return nil
}

func formatName(f mapping.Format) string {
	if f == "" {
		return formatCloudEvents
	}
	return string(f)
}

// standardTopic is the Kafka topic of a standard format.
func standardTopic(kc broker.Config, f mapping.Format) string {
	if f == mapping.FormatHL7v2 {
		return kc.Topics.HL7v2
	}
	return kc.Topics.FHIR
}

func generateKafka(ctx context.Context, logger *slog.Logger, cfg generator.Config, f mapping.Format, kc broker.Config) error {
	topics := kc.Topics.Inputs()
	var feed *sitefeed.Feed
	if f != "" {
		feed = sitefeed.New(f)
		topics = append(topics, standardTopic(kc, f))
	}
	if err := broker.WaitForTopics(ctx, kc, topics, logger); err != nil {
		return err
	}
	p, err := broker.NewProducer(kc, 5000)
	if err != nil {
		return err
	}
	progress := generator.NewProgress(cfg, os.Stderr)
	standard := 0
	stats, err := generator.Generate(ctx, cfg, func(m generator.Message) error {
		progress.Add(1)
		if feed != nil {
			if r := feed.Convert(m); r.Standard {
				standard++
				return p.Send(ctx, standardTopic(kc, f), r.Key, r.Value, broker.Headers(r.Headers))
			}
		}
		return p.Send(ctx, kc.Topics.For(m.Stream), m.Key, m.Value, broker.Headers(m.Headers))
	})
	progress.Finish()
	if cerr := p.Close(context.WithoutCancel(ctx)); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("after %d messages acknowledged: %w", p.Written(), err)
	}
	logger.Info("produced", "brokers", kc.Brokers.String(), "format", formatName(f), "referrals", stats.Referrals,
		"messages", p.Written(), "standard_messages", standard,
		"events", stats.Events, "duplicates", stats.Duplicates, "invalid", stats.Invalid)
	return nil
}
