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
	"strconv"

	"github.com/referralops/referralops/ingest/mapping"
)

var convertCommand = command{
	summary: "print the events HL7 v2 or FHIR R4 messages map to (stdout, CloudEvents JSON) and one outcome line per message (stderr): convert --from hl7v2|fhir --site-config site.yaml [FILE...|-]",
	setup: func(fs *flag.FlagSet, _ *fileConfig) (func() error, func(context.Context, *slog.Logger) error) {
		from := fs.String("from", "", "input format: hl7v2 (ER7, several messages per file) or fhir (a JSON resource or Bundle per file, or NDJSON)")
		sitePath := fs.String("site-config", "", "the site's terminology tables, referral links and time zone (see docs/examples/site-config.yaml); the patient token key comes from "+mapping.KeyEnv)
		var mapper *mapping.Mapper
		validate := func() error {
			var errs []error
			if f := mapping.Format(*from); f != mapping.FormatHL7v2 && f != mapping.FormatFHIR {
				errs = append(errs, errors.New("from: must be hl7v2 or fhir"))
			}
			key, err := mapping.KeyFromEnv()
			if err != nil {
				errs = append(errs, err)
			}
			if *sitePath == "" {
				errs = append(errs, errors.New("site-config: required"))
			} else if cfg, err := mapping.LoadConfig(*sitePath); err != nil {
				errs = append(errs, fmt.Errorf("site-config: %w", err))
			} else if err := cfg.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("site-config: %w", err))
			} else if key != nil {
				mapper, _ = mapping.New(cfg, key) // both checked above
			}
			return errors.Join(errs...)
		}
		return validate, func(context.Context, *slog.Logger) error {
			return convert(mapper, mapping.Format(*from), fs.Args(), os.Stdout, os.Stderr)
		}
	},
}

// convert maps every message of the inputs ("-" or none: stdin), writing
// events to stdout and one outcome line per message to stderr. It fails if
// any message would be dead-lettered, after converting them all.
func convert(m *mapping.Mapper, from mapping.Format, inputs []string, stdout, stderr io.Writer) error {
	if len(inputs) == 0 {
		inputs = []string{"-"}
	}
	out := bufio.NewWriter(stdout)
	total, deadLetters := 0, 0
	for _, in := range inputs {
		b, err := readInput(in)
		if err != nil {
			return err
		}
		msgs := mapping.Split(from, b)
		for i, msg := range msgs {
			name := in
			if len(msgs) > 1 {
				name += ":" + strconv.Itoa(i+1)
			}
			o := m.Map(from, msg)
			total++
			if o.Err != nil {
				deadLetters++
			}
			for _, e := range o.Encoded {
				out.Write(e)
				out.WriteByte('\n')
			}
			if err := out.Flush(); err != nil { // events before their outcome line
				return err
			}
			fmt.Fprintf(stderr, "%s %s\n", name, o.Line())
		}
	}
	if deadLetters > 0 {
		return fmt.Errorf("%d of %d messages would be dead-lettered", deadLetters, total)
	}
	return nil
}

func readInput(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(name)
}
