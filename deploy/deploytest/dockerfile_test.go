package deploytest

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/referralops/referralops/internal/testenv"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	Cmd  string // upper case: FROM, RUN, COPY, ...
	Args string
	Line int
}

type stage struct {
	Image, Name  string
	Instructions []instruction
}

func parseDockerfile(text string) ([]stage, error) {
	var stages []stage
	var cur strings.Builder
	start := 0
	flush := func() error {
		s := strings.TrimSpace(cur.String())
		cur.Reset()
		if s == "" {
			return nil
		}
		cmd, args, _ := strings.Cut(s, " ")
		in := instruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args), Line: start}
		if in.Cmd == "FROM" {
			f := strings.Fields(in.Args)
			for len(f) > 0 && strings.HasPrefix(f[0], "--") { // --platform=...
				f = f[1:]
			}
			if len(f) == 0 {
				return fmt.Errorf("line %d: FROM without an image", in.Line)
			}
			st := stage{Image: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.Name = f[2]
			}
			stages = append(stages, st)
			return nil
		}
		if len(stages) == 0 {
			if in.Cmd == "ARG" {
				return nil
			}
			return fmt.Errorf("line %d: %s before FROM", in.Line, in.Cmd)
		}
		last := &stages[len(stages)-1]
		last.Instructions = append(last.Instructions, in)
		return nil
	}
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if cur.Len() == 0 {
			if trimmed == "" {
				continue
			}
			start = i + 1
		}
		if cont, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(trimmed)
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return stages, nil
}

var goLine = regexp.MustCompile(`(?m)^go ([0-9][^\s]*)\s*$`)

// checkDockerfile: multi-stage; every base image pinned; the Go builder is
// go.mod's version; the binaries are built static (CGO_ENABLED=0); the
// runtime stage is scratch or distroless static, runs as a non-root user and
// starts the referralops binary it copied in.
func checkDockerfile(text, goMod string) []error {
	stages, err := parseDockerfile(text)
	if err != nil {
		return []error{err}
	}
	var errs []error
	if len(stages) < 2 {
		return []error{fmt.Errorf("%d stage(s): want a build stage and a minimal runtime stage", len(stages))}
	}
	m := goLine.FindStringSubmatch(goMod)
	if m == nil {
		return []error{fmt.Errorf("go.mod has no go line")}
	}
	goVersion := m[1]
	names := map[string]bool{}
	goBuilds := 0
	for i, st := range stages {
		final := i == len(stages)-1
		repo, tag, _ := imageRef(st.Image)
		switch {
		case names[st.Image]:
		case st.Image == "scratch":
		default:
			if err := checkPinned(st.Image); err != nil {
				errs = append(errs, fmt.Errorf("stage %d: %w", i, err))
			}
		}
		if path.Base(repo) == "golang" && tag != goVersion && !strings.HasPrefix(tag, goVersion+"-") {
			errs = append(errs, fmt.Errorf("stage %d: builder %s, but go.mod says go %s", i, st.Image, goVersion))
		}
		if final {
			if st.Image != "scratch" && !strings.HasPrefix(repo, "gcr.io/distroless/static") {
				errs = append(errs, fmt.Errorf("runtime stage FROM %s: want scratch or gcr.io/distroless/static", st.Image))
			}
		}
		cgoEnv := false
		for _, in := range st.Instructions {
			if in.Cmd == "ENV" && strings.Contains(in.Args, "CGO_ENABLED=0") {
				cgoEnv = true
			}
			if in.Cmd != "RUN" {
				continue
			}
			// Each `go build` of a RUN (commands joined by && or ;) is static.
			for _, part := range regexp.MustCompile(`&&|;`).Split(in.Args, -1) {
				if !strings.Contains(part, "go build") {
					continue
				}
				goBuilds++
				if final {
					errs = append(errs, fmt.Errorf("line %d: go build in the runtime stage", in.Line))
				}
				if !cgoEnv && !strings.Contains(part, "CGO_ENABLED=0") {
					errs = append(errs, fmt.Errorf("line %d: go build without CGO_ENABLED=0 (not a static binary): %s", in.Line, strings.TrimSpace(part)))
				}
			}
		}
		if st.Name != "" {
			names[st.Name] = true
		}
	}
	if goBuilds == 0 {
		errs = append(errs, fmt.Errorf("no go build"))
	}

	final := stages[len(stages)-1]
	user, entrypoint := "", ""
	for _, in := range final.Instructions {
		switch in.Cmd {
		case "USER":
			user = in.Args
		case "ENTRYPOINT":
			var l []string
			if err := json.Unmarshal([]byte(in.Args), &l); err != nil || len(l) == 0 {
				errs = append(errs, fmt.Errorf("line %d: ENTRYPOINT %s: want the exec (JSON) form, as scratch has no shell", in.Line, in.Args))
			} else {
				entrypoint = l[0]
			}
		}
	}
	uid, _, _ := strings.Cut(user, ":")
	if uid == "" || uid == "root" || strings.Trim(uid, "0") == "" {
		errs = append(errs, fmt.Errorf("runtime stage runs as %q: want a non-root USER (numeric, for Kubernetes' runAsNonRoot)", user))
	}
	files := finalFiles(final)
	if path.Base(entrypoint) != "referralops" || !files[entrypoint] {
		errs = append(errs, fmt.Errorf("ENTRYPOINT %q: want the referralops binary copied into the runtime stage (it has %v)", entrypoint, sortedKeys(files)))
	}
	return errs
}

// finalFiles lists the files COPY puts into a stage.
func finalFiles(st stage) map[string]bool {
	files := map[string]bool{}
	for _, in := range st.Instructions {
		if in.Cmd != "COPY" {
			continue
		}
		var parts []string
		for _, f := range strings.Fields(in.Args) {
			if !strings.HasPrefix(f, "--") {
				parts = append(parts, f)
			}
		}
		if len(parts) < 2 {
			continue
		}
		dest := parts[len(parts)-1]
		for _, src := range parts[:len(parts)-1] {
			if strings.HasSuffix(dest, "/") {
				files[path.Join(dest, path.Base(src))] = true
			} else {
				files[dest] = true
			}
		}
	}
	return files
}

func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDockerfile(t *testing.T) {
	report(t, checkDockerfile(readRepoFile(t, "Dockerfile"), readRepoFile(t, "go.mod")))
}

// dockerfileBinaries: the files of the runtime image.
func dockerfileBinaries(t *testing.T) (map[string]bool, error) {
	stages, err := parseDockerfile(readRepoFile(t, "Dockerfile"))
	if err != nil {
		return nil, err
	}
	return finalFiles(stages[len(stages)-1]), nil
}

// TestDockerignore: the build context leaves out the repository's data and
// history but keeps every file the build compiles or embeds (go list -deps).
func TestDockerignore(t *testing.T) {
	root := testenv.RepoRoot()
	var patterns []string
	for _, l := range strings.Split(readRepoFile(t, ".dockerignore"), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, l)
		}
	}
	for _, must := range []string{".git", ".data", "bin"} {
		if !dockerignored(patterns, must) {
			t.Errorf(".dockerignore keeps %s in the build context", must)
		}
	}
	cmd := exec.Command("go", "list", "-deps", "-f",
		`{{if not .Standard}}{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{range .EmbedFiles}} {{.}}{{end}}{{end}}`,
		"./cmd/referralops", "./deploy/compose/healthprobe")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	needed := []string{"go.mod", "go.sum"}
	absRoot, _ := filepath.Abs(root)
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		rel, err := filepath.Rel(absRoot, f[0])
		if err != nil || strings.HasPrefix(rel, "..") {
			continue // a module dependency, downloaded in the build
		}
		for _, file := range f[1:] {
			needed = append(needed, filepath.ToSlash(filepath.Join(rel, file)))
		}
	}
	if len(needed) < 20 {
		t.Fatalf("go list found only %v", needed)
	}
	for _, f := range needed {
		if dockerignored(patterns, f) {
			t.Errorf(".dockerignore leaves out %s, which the build needs", f)
		}
	}
}

// dockerignored reports whether the context path rel (slash-separated) is
// excluded: a pattern matches the path or one of its parent directories; a
// leading **/ matches at any depth; later patterns win, ! re-includes.
func dockerignored(patterns []string, rel string) bool {
	ignored := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = path.Clean(strings.TrimPrefix(strings.TrimPrefix(p, "!"), "/"))
		if dockerignoreMatch(p, rel) {
			ignored = !neg
		}
	}
	return ignored
}

func dockerignoreMatch(pattern, rel string) bool {
	parts := strings.Split(rel, "/")
	for i := 1; i <= len(parts); i++ {
		prefix := strings.Join(parts[:i], "/")
		if ok, _ := path.Match(pattern, prefix); ok {
			return true
		}
		if rest, ok := strings.CutPrefix(pattern, "**/"); ok {
			for j := 0; j < i; j++ {
				if ok, _ := path.Match(rest, strings.Join(parts[j:i], "/")); ok {
					return true
				}
			}
		}
	}
	return false
}
