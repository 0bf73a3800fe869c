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
			if *sitePath == "" {
				errs = append(errs, errors.New("site-config: required"))
			}
			var err error
			mapper, err = loadMapper(*sitePath)
			return errors.Join(append(errs, err)...)
		}
		return validate, func(context.Context, *slog.Logger) error {
			return convert(mapper, mapping.Format(*from), fs.Args(), os.Stdout, os.Stderr)
		}
	},
}

// loadMapper reads the site config at path ("" reads none) and the patient
// token key: no key, no start. Errors name the setting.
func loadMapper(path string) (*mapping.Mapper, error) {
	key, keyErr := mapping.KeyFromEnv()
	if path == "" {
		return nil, keyErr
	}
	cfg, err := mapping.LoadConfig(path)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return nil, errors.Join(keyErr, fmt.Errorf("site-config: %w", err))
	}
	if keyErr != nil {
		return nil, keyErr
	}
	return mapping.New(cfg, key)
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
