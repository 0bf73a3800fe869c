package generated

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"

	"github.com/referralops/referralops/dashboards"
	"github.com/referralops/referralops/dashboards/rules"
	"github.com/referralops/referralops/metrics"
)

// Command is how a person regenerates the files; failure messages name it.
const Command = "make generate"

// Where the generated files live, relative to the repository root.
const (
	DashboardsDir   = "deploy/grafana/dashboards"
	ProvisioningDir = "deploy/grafana/provisioning"
	RulesDir        = "deploy/prometheus/rules"
	KubernetesDir   = "deploy/kubernetes"
)

// File is one generated file.
type File struct {
	Path string // slash-separated, relative to the repository root
	Data []byte
}

// Set is the generated files, and the globs whose every match is generated:
// a match that is not one of Files (a dashboard no longer built) is stale.
type Set struct {
	Files []File
	Owned []string // slash-separated globs relative to the repository root
}

// Render makes every generated file from the code, with the defaults the
// committed files use (metrics.DefaultTargets, dashboards.DefaultProvisioning,
// rules.DefaultOptions). It reads the hand-written inputs under root: the
// README around its generated regions and the Kubernetes configuration the
// datasources address.
func Render(root string) (*Set, error) {
	ds, err := dashboards.Build(metrics.DefaultTargets())
	if err != nil {
		return nil, fmt.Errorf("dashboards: %w", err)
	}
	s := &Set{Owned: []string{path.Join(DashboardsDir, dashboards.Tag+"-*.json")}}
	boards := map[string][]byte{}
	for _, d := range ds {
		b, err := d.JSON()
		if err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", d.UID, err)
		}
		boards[d.File()] = b
		s.add(path.Join(DashboardsDir, d.File()), b)
	}
	prov, err := dashboards.DefaultProvisioning().Files()
	if err != nil {
		return nil, fmt.Errorf("provisioning: %w", err)
	}
	for _, name := range slices.Sorted(maps.Keys(prov)) {
		s.add(path.Join(ProvisioningDir, name), prov[name])
	}
	rulesYAML, err := rules.Generate(rules.DefaultOptions())
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	s.add(path.Join(RulesDir, rules.FileName), rulesYAML)

	k8s, err := renderKubernetes(root, rulesYAML, boards, prov)
	if err != nil {
		return nil, err
	}
	s.Files = append(s.Files, k8s...)

	readme, err := renderRegions(root)
	if err != nil {
		return nil, err
	}
	s.Files = append(s.Files, readme...)
	return s, nil
}

func (s *Set) add(p string, b []byte) { s.Files = append(s.Files, File{Path: p, Data: b}) }

// Stale lists, one line each, every file under root that differs from s:
// changed, missing, or matching an owned glob without being generated.
func (s *Set) Stale(root string) ([]string, error) {
	var out []string
	for _, f := range s.Files {
		got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f.Path)))
		switch {
		case errors.Is(err, os.ErrNotExist):
			out = append(out, f.Path+": missing")
		case err != nil:
			return nil, err
		case !bytes.Equal(got, f.Data):
			out = append(out, f.Path+": differs from what the code makes now")
		}
	}
	extra, err := s.extra(root)
	if err != nil {
		return nil, err
	}
	for _, p := range extra {
		out = append(out, p+": no longer generated")
	}
	return out, nil
}

// Write writes s under root, leaving unchanged files alone (so Grafana's
// provisioning sees no new modification time), removes the owned files no
// longer generated, and returns the paths it changed.
func (s *Set) Write(root string) ([]string, error) {
	var changed []string
	for _, f := range s.Files {
		file := filepath.Join(root, filepath.FromSlash(f.Path))
		if old, err := os.ReadFile(file); err == nil && bytes.Equal(old, f.Data) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			return changed, err
		}
		if err := os.WriteFile(file, f.Data, 0o644); err != nil {
			return changed, err
		}
		changed = append(changed, f.Path)
	}
	extra, err := s.extra(root)
	if err != nil {
		return changed, err
	}
	for _, p := range extra {
		if err := os.Remove(filepath.Join(root, filepath.FromSlash(p))); err != nil {
			return changed, err
		}
		changed = append(changed, p)
	}
	return changed, nil
}

// extra are the files under root matching an owned glob that s does not hold.
func (s *Set) extra(root string) ([]string, error) {
	held := map[string]bool{}
	for _, f := range s.Files {
		held[f.Path] = true
	}
	var out []string
	for _, glob := range s.Owned {
		matches, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(glob)))
		if err != nil {
			return nil, err
		}
		for _, m := range matches {
			rel, err := filepath.Rel(root, m)
			if err != nil {
				return nil, err
			}
			if p := filepath.ToSlash(rel); !held[p] {
				out = append(out, p)
			}
		}
	}
	return out, nil
}
