package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/term"

	"github.com/referralops/referralops/internal/config"
)

// Exit codes.
const (
	exitOK        = 0
	exitFailure   = 1
	exitBadConfig = 2
)

// command is one subcommand. setup registers its flags and returns the function
// that runs it once the configuration is loaded and valid. A command with
// actions instead (`referralops dlq list`) is a group of commands named by
// their first argument.
type command struct {
	summary string
	setup   func(fs *flag.FlagSet, file *fileConfig) (validate func() error, run func(ctx context.Context, logger *slog.Logger) error)
	actions map[string]command
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitBadConfig
		}
		return exitOK
	}
	name := args[0]
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "referralops: unknown command %q\n\n", name)
		usage(stderr)
		return exitBadConfig
	}
	if cmd.actions != nil {
		if len(args) < 2 || cmd.actions[args[1]].setup == nil {
			actionUsage(stderr, name, cmd)
			if len(args) >= 2 && (args[1] == "-h" || args[1] == "--help" || args[1] == "help") {
				return exitOK
			}
			return exitBadConfig
		}
		name, cmd, args = name+" "+args[1], cmd.actions[args[1]], args[1:]
	}
	fs := flag.NewFlagSet("referralops "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := newFileConfig()
	fs.String(config.FileFlag, "", "YAML configuration file (flags and REFERRALOPS_* variables override it)")
	file.Log.RegisterFlags(fs)
	validate, runCmd := cmd.setup(fs, file)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: referralops %s [flags]\n\n%s\n\nFlags (each also REFERRALOPS_<FLAG>, e.g. --kafka-brokers is REFERRALOPS_KAFKA_BROKERS):\n", name, cmd.summary)
		fs.PrintDefaults()
	}
	if err := config.Load(fs, args[1:], file); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "referralops %s: invalid configuration: %v\n", name, err)
		return exitBadConfig
	}
	if err := errors.Join(file.Log.Validate(), validate()); err != nil {
		fmt.Fprintf(stderr, "referralops %s: invalid configuration:\n%v\n", name, indent(err))
		return exitBadConfig
	}
	logger := file.Log.Logger(stderr).With("component", name)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runCmd(ctx, logger); err != nil {
		logger.Error(name+" failed", "err", err)
		return exitFailure
	}
	return exitOK
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: referralops <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'referralops <command> --help' for its flags.")
}

func actionUsage(w io.Writer, name string, cmd command) {
	fmt.Fprintf(w, "Usage: referralops %s <action> [flags]\n\n%s\n\nActions:\n", name, cmd.summary)
	for _, a := range slices.Sorted(maps.Keys(cmd.actions)) {
		fmt.Fprintf(w, "  %-10s %s\n", a, cmd.actions[a].summary)
	}
	fmt.Fprintf(w, "\nRun 'referralops %s <action> --help' for its flags.\n", name)
}

func indent(err error) string {
	return "  " + strings.ReplaceAll(err.Error(), "\n", "\n  ") + "\n"
}

// logConfig is the logging settings every command shares.
type logConfig struct {
	Format string `yaml:"format"`
	Level  string `yaml:"level"`
}

func (c *logConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Format, "log-format", c.Format, "log format: auto (text on a terminal, JSON otherwise), json or text")
	fs.StringVar(&c.Level, "log-level", c.Level, "log level: debug, info, warn or error")
}

func (c logConfig) Validate() error {
	var errs []error
	switch c.Format {
	case "auto", "json", "text":
	default:
		errs = append(errs, fmt.Errorf("log-format: %q is not auto, json or text", c.Format))
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.Level)); err != nil {
		errs = append(errs, fmt.Errorf("log-level: %q is not debug, info, warn or error", c.Level))
	}
	return errors.Join(errs...)
}

func (c logConfig) Logger(w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	text := c.Format == "text"
	if c.Format == "auto" {
		f, ok := w.(*os.File)
		text = ok && term.IsTerminal(int(f.Fd()))
	}
	if text {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// processRegistry is a registry with the Go runtime's and the process's
// metrics, for a command serving one component's /metrics. Besides the
// default Go metrics it serves the runtime's estimates of the GC's CPU
// (go_cpu_classes_gc_*_cpu_seconds_total: the total and its parts, of which
// mark_idle is marking on otherwise idle CPUs), which `make bench` reports per
// million ingested events.
func processRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
			collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/cpu/classes/gc/`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}
