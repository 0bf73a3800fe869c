package deploytest

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/referralops/referralops/internal/testenv"
)

// The parts of a Compose file (compose-spec) the tests read. Unknown keys are
// ignored here, as by docker compose's tolerant reading of extensions.
type composeFile struct {
	Name     string                     `yaml:"name"`
	Services map[string]*composeService `yaml:"services"`
	Volumes  map[string]any             `yaml:"volumes"`
}

type composeService struct {
	Image       string       `yaml:"image"`
	Build       *buildSpec   `yaml:"build"`
	Command     stringOrList `yaml:"command"`
	Entrypoint  stringOrList `yaml:"entrypoint"`
	Environment envMap       `yaml:"environment"`
	Ports       []yaml.Node  `yaml:"ports"`
	Volumes     []yaml.Node  `yaml:"volumes"`
	Healthcheck *struct {
		Test    stringOrList `yaml:"test"`
		Disable bool         `yaml:"disable"`
	} `yaml:"healthcheck"`
	DependsOn   dependsOn `yaml:"depends_on"`
	Profiles    []string  `yaml:"profiles"`
	Restart     string    `yaml:"restart"`
	NetworkMode string    `yaml:"network_mode"`
	ReadOnly    bool      `yaml:"read_only"`
	User        string    `yaml:"user"`
	Deploy      struct {
		Replicas *int `yaml:"replicas"`
	} `yaml:"deploy"`
}

type buildSpec struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

func (b *buildSpec) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		b.Context = n.Value
		return nil
	}
	type plain buildSpec
	return n.Decode((*plain)(b))
}

// stringOrList is a command, entrypoint or health check test: a list, or a
// string split on spaces.
type stringOrList []string

func (s *stringOrList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*s = strings.Fields(n.Value)
		return nil
	}
	var l []string
	err := n.Decode(&l)
	*s = l
	return err
}

// envMap is environment as a map or a list of KEY=VALUE.
type envMap map[string]string

func (e *envMap) UnmarshalYAML(n *yaml.Node) error {
	*e = envMap{}
	if n.Kind == yaml.SequenceNode {
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		for _, kv := range l {
			k, v, _ := strings.Cut(kv, "=")
			(*e)[k] = v
		}
		return nil
	}
	var m map[string]*string
	if err := n.Decode(&m); err != nil {
		return err
	}
	for k, v := range m {
		if v != nil {
			(*e)[k] = *v
		} else {
			(*e)[k] = ""
		}
	}
	return nil
}

// dependsOn maps a dependency to its condition (service_started for the
// short list form).
type dependsOn map[string]string

func (d *dependsOn) UnmarshalYAML(n *yaml.Node) error {
	*d = dependsOn{}
	if n.Kind == yaml.SequenceNode {
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		for _, s := range l {
			(*d)[s] = "service_started"
		}
		return nil
	}
	var m map[string]struct {
		Condition string `yaml:"condition"`
	}
	if err := n.Decode(&m); err != nil {
		return err
	}
	for k, v := range m {
		c := v.Condition
		if c == "" {
			c = "service_started"
		}
		(*d)[k] = c
	}
	return nil
}

// mount is one entry of a service's volumes.
type mount struct {
	Type     string // "bind" or "volume"
	Source   string // host path relative to the compose file, or volume name
	Target   string
	ReadOnly bool
}

func (s *composeService) mounts() ([]mount, error) {
	var ms []mount
	for _, n := range s.Volumes {
		var m mount
		if n.Kind == yaml.ScalarNode {
			parts := strings.Split(n.Value, ":")
			if len(parts) < 2 || len(parts) > 3 {
				return nil, fmt.Errorf("volume %q: want SOURCE:TARGET[:MODE]", n.Value)
			}
			m.Source, m.Target = parts[0], parts[1]
			if len(parts) == 3 {
				m.ReadOnly = slicesContains(strings.Split(parts[2], ","), "ro")
			}
			m.Type = "volume"
			if strings.HasPrefix(m.Source, ".") || strings.HasPrefix(m.Source, "/") || strings.HasPrefix(m.Source, "~") {
				m.Type = "bind"
			}
		} else {
			var long struct {
				Type     string `yaml:"type"`
				Source   string `yaml:"source"`
				Target   string `yaml:"target"`
				ReadOnly bool   `yaml:"read_only"`
			}
			if err := n.Decode(&long); err != nil {
				return nil, err
			}
			m = mount(long)
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// hostPath maps a path inside the service's container to the repository file
// a bind mount puts there ("" if no bind mount covers it).
func (s *composeService) hostPath(containerPath string) (string, error) {
	ms, err := s.mounts()
	if err != nil {
		return "", err
	}
	best, bestLen := "", -1
	for _, m := range ms {
		if m.Type != "bind" {
			continue
		}
		t := path.Clean(m.Target)
		if containerPath != t && !strings.HasPrefix(containerPath, t+"/") {
			continue
		}
		if len(t) > bestLen {
			best, bestLen = filepath.Join(filepath.FromSlash(m.Source), filepath.FromSlash(strings.TrimPrefix(containerPath, t))), len(t)
		}
	}
	return best, nil
}

// oneShot: a service that runs to completion (migrations, topic creation,
// data generation) rather than serving.
func (s *composeService) oneShot() bool { return s.Restart == "no" }

// dependedOn: another service's depends_on names it.
func (cf *composeFile) dependedOn(name string) bool {
	for _, s := range cf.Services {
		if _, ok := s.DependsOn[name]; ok {
			return true
		}
	}
	return false
}

func slicesContains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

var composeVar = regexp.MustCompile(`\$(\$|\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*)`)

// interpolate substitutes ${VAR}, ${VAR:-default}, ${VAR-default},
// ${VAR:?msg}, ${VAR?msg} and $VAR as docker compose does, looking variables
// up in env; $$ is a literal $. A required variable (:?) that is not set is an
// error with its message, and so is a variable with neither a value nor a
// default: the stack must start with nothing but the required ones in .env.
func interpolate(text string, env map[string]string) (string, error) {
	var errs []error
	out := composeVar.ReplaceAllStringFunc(text, func(m string) string {
		body := m[1:]
		if body == "$" {
			return "$"
		}
		body = strings.TrimSuffix(strings.TrimPrefix(body, "{"), "}")
		name, op, arg := body, "", ""
		if i := strings.IndexAny(body, ":-?"); i >= 0 {
			name = body[:i]
			rest := body[i:]
			switch {
			case strings.HasPrefix(rest, ":-"), strings.HasPrefix(rest, ":?"):
				op, arg = rest[:2], rest[2:]
			case strings.HasPrefix(rest, "-"), strings.HasPrefix(rest, "?"):
				op, arg = rest[:1], rest[1:]
			default:
				errs = append(errs, fmt.Errorf("%s: unsupported interpolation", m))
				return m
			}
		}
		v, set := env[name]
		switch {
		case set && (v != "" || !strings.HasPrefix(op, ":")):
			return v
		case op == ":-" || op == "-":
			return arg
		case op == ":?" || op == "?":
			errs = append(errs, fmt.Errorf("%s: variable %s is required: %s", m, name, arg))
			return ""
		default:
			errs = append(errs, fmt.Errorf("%s: variable %s has no default", m, name))
			return ""
		}
	})
	return out, errors.Join(errs...)
}

// composeVars lists the variables text refers to.
func composeVars(text string) []string {
	seen := map[string]bool{}
	var names []string
	for _, m := range composeVar.FindAllString(text, -1) {
		body := strings.TrimSuffix(strings.TrimPrefix(m[1:], "{"), "}")
		if body == "$" {
			continue
		}
		if i := strings.IndexAny(body, ":-?"); i >= 0 {
			body = body[:i]
		}
		if !seen[body] {
			seen[body] = true
			names = append(names, body)
		}
	}
	return names
}

const composePath = "docker-compose.yml"

// loadCompose reads docker-compose.yml with its variables interpolated from
// env (nil: every default).
// requiredEnv is what .env must set: the variables without a default.
var requiredEnv = map[string]string{"GRAFANA_ADMIN_PASSWORD": "from-dot-env"}

// loadCompose parses the compose file with env, or nil for requiredEnv only.
func loadCompose(t *testing.T, env map[string]string) *composeFile {
	t.Helper()
	if env == nil {
		env = requiredEnv
	}
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), composePath))
	if err != nil {
		t.Fatal(err)
	}
	cf, err := parseCompose(string(b), env)
	if err != nil {
		t.Fatalf("%s: %v", composePath, err)
	}
	return cf
}

func parseCompose(text string, env map[string]string) (*composeFile, error) {
	text, err := interpolate(text, env)
	if err != nil {
		return nil, err
	}
	var cf composeFile
	if err := yaml.Unmarshal([]byte(text), &cf); err != nil {
		return nil, err
	}
	if len(cf.Services) == 0 {
		return nil, errors.New("no services")
	}
	return &cf, nil
}

// identityEnv gives every variable of the compose file a value naming it, so
// that two settings compare equal only if they come from the same variable.
func identityEnv(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), composePath))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, name := range composeVars(string(b)) {
		env[name] = "v-" + strings.ToLower(strings.ReplaceAll(name, "_", "-"))
	}
	return env
}

// isReferralops: the service runs the image built from the repository's
// Dockerfile, whose entrypoint is the referralops binary.
func (s *composeService) isReferralops() bool {
	return s.Build != nil && len(s.Entrypoint) == 0
}

func (s *composeService) invocation(name string) invocation {
	return invocation{where: composePath + ": service " + name, args: s.Command, env: s.Environment}
}
