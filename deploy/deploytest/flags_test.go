package deploytest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/referralops/referralops/internal/config"
	"github.com/referralops/referralops/internal/testenv"
)

// invocation is one run of the referralops binary a deployment file asks
// for: the arguments after the binary (subcommand first) and the
// environment, where a value another mechanism fills in (a Secret) is a
// placeholder of the right shape.
type invocation struct {
	where string // e.g. "docker-compose.yml: service ingest"
	args  []string
	env   map[string]string
}

// cli is what the real binary says about itself.
type cli struct {
	bin      string
	commands map[string]map[string]bool // command → flag name → is boolean
}

var (
	cliOnce sync.Once
	cliVal  *cli
	cliErr  error
)

// referralops returns the commands and flags of the binary built from
// cmd/referralops, read from its own usage output.
func referralops(t *testing.T) *cli {
	t.Helper()
	bin := testenv.Binary(t)
	cliOnce.Do(func() { cliVal, cliErr = readCLI(bin) })
	if cliErr != nil {
		t.Fatal(cliErr)
	}
	return cliVal
}

var (
	commandLine = regexp.MustCompile(`(?m)^  ([a-z][a-z0-9-]*) +\S`)
	flagLine    = regexp.MustCompile(`(?m)^  -([A-Za-z0-9][-A-Za-z0-9_.]*)(?: (\S+))?$`)
)

func readCLI(bin string) (*cli, error) {
	out, code := runCLI(bin, "help")
	if code != 0 {
		return nil, fmt.Errorf("referralops help: exit %d\n%s", code, out)
	}
	c := &cli{bin: bin, commands: map[string]map[string]bool{}}
	for _, m := range commandLine.FindAllStringSubmatch(out, -1) {
		c.commands[m[1]] = nil
	}
	if len(c.commands) < 5 {
		return nil, fmt.Errorf("referralops help lists %d commands:\n%s", len(c.commands), out)
	}
	for _, name := range sortedKeys(c.commands) {
		out, code := runCLI(bin, name, "--help")
		if code != 0 {
			return nil, fmt.Errorf("referralops %s --help: exit %d\n%s", name, code, out)
		}
		if _, actions, ok := strings.Cut(out, "\nActions:\n"); ok {
			// A group of commands (`dlq list`): each action has its flags.
			delete(c.commands, name)
			for _, m := range commandLine.FindAllStringSubmatch(actions, -1) {
				action := name + " " + m[1]
				out, code := runCLI(bin, name, m[1], "--help")
				if code != 0 {
					return nil, fmt.Errorf("referralops %s --help: exit %d\n%s", action, code, out)
				}
				flags, err := helpFlags(action, out)
				if err != nil {
					return nil, err
				}
				c.commands[action] = flags
			}
			continue
		}
		flags, err := helpFlags(name, out)
		if err != nil {
			return nil, err
		}
		c.commands[name] = flags
	}
	return c, nil
}

// helpFlags reads the flags of a command's --help output.
func helpFlags(name, out string) (map[string]bool, error) {
	flags := map[string]bool{}
	for _, m := range flagLine.FindAllStringSubmatch(out, -1) {
		flags[m[1]] = m[2] == "" // flag.PrintDefaults shows no type for a bool
	}
	if _, ok := flags[config.FileFlag]; !ok {
		return nil, fmt.Errorf("referralops %s --help lists no --%s flag; cannot read its flags:\n%s", name, config.FileFlag, out)
	}
	return flags, nil
}

// runCLI runs the binary with no REFERRALOPS_* variables of the test's
// environment, returning its combined output and exit code.
func runCLI(bin string, args ...string) (string, int) {
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, config.EnvPrefix) {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil && cmd.ProcessState == nil {
		return err.Error(), -1
	}
	return out.String(), cmd.ProcessState.ExitCode()
}

// check reports every flag or REFERRALOPS_* variable of inv that its command
// does not have, then lets the binary parse the whole invocation (each
// variable passed as its flag, then --help): a value its flag rejects fails
// there, a misspelt flag already in the first step.
func (c *cli) check(inv invocation) []error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s: %s", inv.where, fmt.Sprintf(format, args...))
	}
	if len(inv.args) == 0 {
		return []error{fail("no referralops command given")}
	}
	name := inv.args[0]
	flags, ok := c.commands[name]
	if !ok {
		return []error{fail("%q is not a referralops command (have %s)", name, strings.Join(sortedKeys(c.commands), ", "))}
	}
	var errs []error
	for i := 1; i < len(inv.args); i++ {
		a := inv.args[i]
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			errs = append(errs, fail("argument %q: referralops %s takes flags only", a, name))
			continue
		}
		f, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		isBool, ok := flags[f]
		if !ok {
			errs = append(errs, fail("referralops %s has no flag --%s", name, f))
			continue
		}
		if !hasValue && !isBool {
			i++ // --flag value
		}
	}
	argv := append([]string{}, inv.args...)
	for _, k := range sortedKeys(inv.env) {
		if !strings.HasPrefix(k, config.EnvPrefix) {
			continue
		}
		f := flagOfEnv(flags, k)
		if f == "" {
			errs = append(errs, fail("%s sets no flag of referralops %s", k, name))
			continue
		}
		if f == config.FileFlag {
			continue // the file is checked on its own; here it would be read from the host
		}
		argv = append(argv, "--"+f+"="+inv.env[k])
	}
	if len(errs) > 0 {
		return errs
	}
	if out, code := runCLI(c.bin, append(argv, "--help")...); code != 0 {
		errs = append(errs, fail("referralops %s rejects the invocation (exit %d):\n%s", strings.Join(argv, " "), code, firstLines(out, 3)))
	}
	return errs
}

// flagOfEnv is the flag the variable sets, "" if none.
func flagOfEnv(flags map[string]bool, env string) string {
	for f := range flags {
		if config.EnvName(f) == env {
			return f
		}
	}
	return ""
}

// flagValue is the value inv gives the flag, by argument or variable
// (arguments win, as in config.Load); ok is false if it sets none.
func flagValue(inv invocation, flag string) (string, bool) {
	for i := 1; i < len(inv.args); i++ {
		f, v, has := strings.Cut(strings.TrimLeft(inv.args[i], "-"), "=")
		if f != flag {
			continue
		}
		if !has && i+1 < len(inv.args) {
			v = inv.args[i+1]
		}
		return v, true
	}
	v, ok := inv.env[config.EnvName(flag)]
	return v, ok
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
