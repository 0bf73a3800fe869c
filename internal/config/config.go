// Package config layers a command's settings: defaults, then an optional YAML
// file, then REFERRALOPS_* environment variables, then command-line flags.
//
// Each package owns its Config (YAML tags, RegisterFlags, Validate); this package
// only applies the layers to the flags those packages registered, so a setting has
// one name everywhere: the flag --kafka-brokers is the environment variable
// REFERRALOPS_KAFKA_BROKERS.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// EnvPrefix starts the environment variable of every flag.
const EnvPrefix = "REFERRALOPS_"

// FileFlag is the flag naming the YAML file.
const FileFlag = "config"

// EnvName is the environment variable that sets the flag with the given name:
// dashes and dots (--web.config.file) become underscores.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(flagName))
}

// Load applies the layers to fs. The fields behind fs's flags must already hold
// their defaults. file is what the YAML file decodes into (a struct of pointers to
// the packages' Configs); unknown keys in the file are an error. If fs has a
// --config flag, the file it (or REFERRALOPS_CONFIG) names is read.
func Load(fs *flag.FlagSet, args []string, file any) error {
	// First pass: learn --config and reject unknown flags early.
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f := fs.Lookup(FileFlag); f != nil {
		path := f.Value.String()
		if v, ok := os.LookupEnv(EnvName(FileFlag)); ok && !isSet(fs, FileFlag) {
			path = v
		}
		if path != "" {
			if err := decodeFile(path, file); err != nil {
				return err
			}
		}
	}
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		v, ok := os.LookupEnv(EnvName(f.Name))
		if !ok || f.Name == FileFlag {
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", EnvName(f.Name), err))
		}
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Second pass: flags win over the file and the environment.
	return fs.Parse(args)
}

func decodeFile(path string, into any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(into); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

// StringList is a comma-separated flag and a YAML sequence.
type StringList []string

// String implements flag.Value.
func (l *StringList) String() string { return strings.Join(*l, ",") }

// Set implements flag.Value; it replaces the list.
func (l *StringList) Set(v string) error {
	*l = nil
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}
