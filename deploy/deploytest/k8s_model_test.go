package deploytest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/referralops/referralops/internal/testenv"
)

// The parts of Kubernetes objects the tests read.
type object struct {
	File       string
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name        string            `yaml:"name"`
		Namespace   string            `yaml:"namespace"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	node *yaml.Node
}

func (o *object) String() string {
	return fmt.Sprintf("%s %s/%s (%s)", o.Kind, o.Metadata.Namespace, o.Metadata.Name, o.File)
}

// decode decodes the whole object into v.
func (o *object) decode(v any) error { return o.node.Decode(v) }

type workloadSpec struct {
	Replicas *int `yaml:"replicas"`
	Selector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
	Template struct {
		Metadata struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec podSpec `yaml:"spec"`
	} `yaml:"template"`
}

type podSpec struct {
	TerminationGracePeriodSeconds *int64 `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               *struct {
		RunAsNonRoot   *bool  `yaml:"runAsNonRoot"`
		RunAsUser      *int64 `yaml:"runAsUser"`
		SeccompProfile *struct {
			Type string `yaml:"type"`
		} `yaml:"seccompProfile"`
	} `yaml:"securityContext"`
	InitContainers []container `yaml:"initContainers"`
	Containers     []container `yaml:"containers"`
	Volumes        []struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name  string `yaml:"name"`
			Items []struct {
				Key  string `yaml:"key"`
				Path string `yaml:"path"`
			} `yaml:"items"`
		} `yaml:"configMap"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
		} `yaml:"secret"`
		PersistentVolumeClaim *struct {
			ClaimName string `yaml:"claimName"`
		} `yaml:"persistentVolumeClaim"`
	} `yaml:"volumes"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef    *keyRef `yaml:"secretKeyRef"`
			ConfigMapKeyRef *keyRef `yaml:"configMapKeyRef"`
			FieldRef        *struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
		SecretRef *struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext *struct {
		RunAsNonRoot             *bool  `yaml:"runAsNonRoot"`
		RunAsUser                *int64 `yaml:"runAsUser"`
		ReadOnlyRootFilesystem   *bool  `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool  `yaml:"allowPrivilegeEscalation"`
		Capabilities             *struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

type keyRef struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
}

type probe struct {
	HTTPGet *struct {
		Path string    `yaml:"path"`
		Port yaml.Node `yaml:"port"`
	} `yaml:"httpGet"`
}

// workload is a Deployment, Job or CronJob with its pod spec.
type workload struct {
	obj  *object
	spec workloadSpec
	// schedule is a CronJob's.
	schedule string
}

const k8sDir = "deploy/kubernetes"

// manifests are the objects of every YAML file of deploy/kubernetes except
// the kustomization.
type manifests struct {
	objects []*object
	files   []string
}

func loadManifests(t *testing.T) *manifests {
	t.Helper()
	m, err := readManifests(filepath.Join(testenv.RepoRoot(), filepath.FromSlash(k8sDir)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func readManifests(dir string) (*manifests, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	m := &manifests{}
	for _, e := range entries {
		if e.IsDir() || (!strings.HasSuffix(e.Name(), ".yaml") && !strings.HasSuffix(e.Name(), ".yml")) || e.Name() == "kustomization.yaml" {
			continue
		}
		m.files = append(m.files, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		objs, err := parseObjects(e.Name(), b)
		if err != nil {
			return nil, err
		}
		m.objects = append(m.objects, objs...)
	}
	sort.Strings(m.files)
	return m, nil
}

// parseObjects decodes a multi-document YAML file; every document must be
// an object with apiVersion, kind and a name.
func parseObjects(file string, b []byte) ([]*object, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var objs []*object
	for i := 0; ; i++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", file, i, err)
		}
		if len(n.Content) == 0 || (n.Content[0].Kind == yaml.ScalarNode && n.Content[0].Tag == "!!null") {
			continue // an empty document (a trailing ---)
		}
		o := &object{File: file, node: &n}
		if err := n.Decode(o); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", file, i, err)
		}
		if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
			return nil, fmt.Errorf("%s: document %d: want apiVersion, kind and metadata.name", file, i)
		}
		objs = append(objs, o)
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("%s: no objects", file)
	}
	return objs, nil
}

func (m *manifests) byKind(kind string) []*object {
	var out []*object
	for _, o := range m.objects {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

func (m *manifests) get(kind, name string) *object {
	for _, o := range m.objects {
		if o.Kind == kind && o.Metadata.Name == name {
			return o
		}
	}
	return nil
}

func (m *manifests) workloads() ([]workload, error) {
	var ws []workload
	for _, o := range m.objects {
		switch o.Kind {
		case "Deployment", "StatefulSet", "DaemonSet", "Job":
			var full struct {
				Spec workloadSpec `yaml:"spec"`
			}
			if err := o.decode(&full); err != nil {
				return nil, fmt.Errorf("%s: %w", o, err)
			}
			ws = append(ws, workload{obj: o, spec: full.Spec})
		case "CronJob":
			var full struct {
				Spec struct {
					Schedule    string `yaml:"schedule"`
					JobTemplate struct {
						Spec workloadSpec `yaml:"spec"`
					} `yaml:"jobTemplate"`
				} `yaml:"spec"`
			}
			if err := o.decode(&full); err != nil {
				return nil, fmt.Errorf("%s: %w", o, err)
			}
			ws = append(ws, workload{obj: o, spec: full.Spec.JobTemplate.Spec, schedule: full.Spec.Schedule})
		}
	}
	return ws, nil
}

// configMapData is the data of a ConfigMap of the manifests.
func (m *manifests) configMapData(name string) (map[string]string, error) {
	o := m.get("ConfigMap", name)
	if o == nil {
		return nil, fmt.Errorf("no ConfigMap %s", name)
	}
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	if err := o.decode(&cm); err != nil {
		return nil, err
	}
	return cm.Data, nil
}

// k8sVarRef is a $(VAR) reference Kubernetes expands in env values and args.
var k8sVarRef = regexp.MustCompile(`\$?\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// environment resolves a container's variables as the kubelet does: in
// order, $(VAR) expanded from the ones before. A Secret's value is a
// placeholder that still parses as a DSN part; a ConfigMap's is its value.
func (m *manifests) environment(c container) (map[string]string, error) {
	env := map[string]string{}
	var errs []error
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef != nil {
			data, err := m.configMapData(ef.ConfigMapRef.Name)
			if err != nil {
				errs = append(errs, err)
			}
			for k, v := range data {
				env[k] = v
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = k8sVarRef.ReplaceAllStringFunc(e.Value, func(ref string) string {
				if strings.HasPrefix(ref, "$$") {
					return ref[1:]
				}
				name := k8sVarRef.FindStringSubmatch(ref)[1]
				if v, ok := env[name]; ok {
					return v
				}
				errs = append(errs, fmt.Errorf("container %s: %s refers to $(%s), defined before it nowhere", c.Name, e.Name, name))
				return ref
			})
		case e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = "secret-" + e.ValueFrom.SecretKeyRef.Key
		case e.ValueFrom.ConfigMapKeyRef != nil:
			data, err := m.configMapData(e.ValueFrom.ConfigMapKeyRef.Name)
			v, ok := data[e.ValueFrom.ConfigMapKeyRef.Key]
			if err != nil || !ok {
				errs = append(errs, fmt.Errorf("container %s: %s: ConfigMap %s has no key %s (%v)", c.Name, e.Name,
					e.ValueFrom.ConfigMapKeyRef.Name, e.ValueFrom.ConfigMapKeyRef.Key, err))
			}
			env[e.Name] = v
		case e.ValueFrom.FieldRef != nil:
			env[e.Name] = "field-" + e.ValueFrom.FieldRef.FieldPath
		}
	}
	return env, errors.Join(errs...)
}

// mountedFile is the content of the ConfigMap file the container sees at p.
func (m *manifests) mountedFile(spec podSpec, c container, p string) (string, error) {
	for _, vm := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(p, strings.TrimSuffix(vm.MountPath, "/")+"/")
		if !ok {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name != vm.Name || v.ConfigMap == nil {
				continue
			}
			data, err := m.configMapData(v.ConfigMap.Name)
			if err != nil {
				return "", err
			}
			key := rel
			if len(v.ConfigMap.Items) > 0 {
				key = ""
				for _, it := range v.ConfigMap.Items {
					if path.Clean(it.Path) == rel {
						key = it.Key
					}
				}
			}
			content, ok := data[key]
			if !ok {
				return "", fmt.Errorf("%s: ConfigMap %s projects no file %s", p, v.ConfigMap.Name, rel)
			}
			return content, nil
		}
	}
	return "", fmt.Errorf("%s: no ConfigMap volume mounted there in container %s", p, c.Name)
}

// quantity parses a Kubernetes memory or CPU quantity into base units
// (bytes, cores).
func quantity(s string) (float64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{
		{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40},
		{"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"m", 1e-3},
	}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(num, 64)
			return f * u.mult, err
		}
	}
	return strconv.ParseFloat(s, 64)
}

// isReferralopsImage: the container runs the repository's image, whose
// entrypoint is the referralops binary.
func isReferralopsImage(image string) bool {
	repo, _, _ := imageRef(image)
	return path.Base(repo) == "referralops"
}
