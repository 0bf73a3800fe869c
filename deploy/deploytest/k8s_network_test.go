package deploytest

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"testing"
)

// The parts of a NetworkPolicy the checks read.
type networkPolicy struct {
	Spec struct {
		PodSelector labelSelector `yaml:"podSelector"`
		PolicyTypes []string      `yaml:"policyTypes"`
		Ingress     []policyRule  `yaml:"ingress"`
		Egress      []policyRule  `yaml:"egress"`
	} `yaml:"spec"`
}

type labelSelector struct {
	MatchLabels      map[string]string `yaml:"matchLabels"`
	MatchExpressions []struct {
		Key      string   `yaml:"key"`
		Operator string   `yaml:"operator"`
		Values   []string `yaml:"values"`
	} `yaml:"matchExpressions"`
}

// selects: the selector matches labels (only the In operator is used here).
func (s labelSelector) selects(labels map[string]string) bool {
	if !subset(s.MatchLabels, labels) {
		return false
	}
	for _, e := range s.MatchExpressions {
		if e.Operator != "In" || !slices.Contains(e.Values, labels[e.Key]) {
			return false
		}
	}
	return true
}

type policyRule struct {
	Ports []struct {
		Protocol string `yaml:"protocol"`
		Port     string `yaml:"port"`
	} `yaml:"ports"`
}

// allows: the rule opens TCP port (by number or by the container's port name).
func (r policyRule) allows(protocol string, port int, name string) bool {
	for _, p := range r.Ports {
		if (p.Protocol == "" || p.Protocol == protocol) && (p.Port == strconv.Itoa(port) || (name != "" && p.Port == name)) {
			return true
		}
	}
	return false
}

// brokersKey finds the Kafka brokers in the config file of referralops-config.
var brokersKey = regexp.MustCompile(`brokers:\s*\[([^\],]+)`)

// checkK8sNetwork: the namespace enforces the restricted Pod Security
// profile (and each pod sets what it needs for it: RuntimeDefault seccomp);
// a default-deny policy covers every pod for ingress and egress; each
// workload is allowed exactly the flows it needs (DNS, ClickHouse at
// config.yaml's address, Kafka for the ingesters), and ingress only on the
// ports its Service exposes; the schema Job accepts no ingress at all.
func checkK8sNetwork(m *manifests) []error {
	var errs []error
	ns := m.get("Namespace", namespace)
	if ns == nil {
		return []error{fmt.Errorf("no Namespace %s", namespace)}
	}
	if got := ns.Metadata.Labels["pod-security.kubernetes.io/enforce"]; got != "restricted" {
		errs = append(errs, fmt.Errorf("%s: pod-security.kubernetes.io/enforce=%q, want restricted", ns, got))
	}
	data, err := m.configMapData("referralops-config")
	if err != nil {
		return append(errs, err)
	}
	port := func(addr string) int {
		_, p, _ := net.SplitHostPort(addr)
		n, _ := strconv.Atoi(p)
		return n
	}
	chPort := port(data["clickhouse-addr"])
	kafkaPort := 0
	if mm := brokersKey.FindStringSubmatch(data["referralops.yaml"]); mm != nil {
		kafkaPort = port(mm[1])
	}
	if chPort == 0 || kafkaPort == 0 {
		return append(errs, fmt.Errorf("referralops-config: no ClickHouse (%d) or Kafka (%d) port", chPort, kafkaPort))
	}
	var policies []networkPolicy
	denyAll := false
	for _, o := range m.byKind("NetworkPolicy") {
		var p networkPolicy
		if err := o.decode(&p); err != nil {
			return append(errs, fmt.Errorf("%s: %w", o, err))
		}
		s := p.Spec
		if len(s.PodSelector.MatchLabels)+len(s.PodSelector.MatchExpressions) == 0 && len(s.Ingress)+len(s.Egress) == 0 &&
			slices.Contains(s.PolicyTypes, "Ingress") && slices.Contains(s.PolicyTypes, "Egress") {
			denyAll = true
		}
		policies = append(policies, p)
	}
	if !denyAll {
		errs = append(errs, fmt.Errorf("no default-deny NetworkPolicy (podSelector {}, policyTypes [Ingress, Egress], no rules)"))
	}
	ws, err := m.workloads()
	if err != nil {
		return append(errs, err)
	}
	for _, w := range ws {
		labels := w.spec.Template.Metadata.Labels
		ps := w.spec.Template.Spec
		if ps.SecurityContext == nil || ps.SecurityContext.SeccompProfile == nil || ps.SecurityContext.SeccompProfile.Type != "RuntimeDefault" {
			errs = append(errs, fmt.Errorf("%s: no seccompProfile RuntimeDefault (Pod Security restricted)", w.obj))
		}
		egress := func(protocol string, port int) bool {
			for _, p := range policies {
				if p.Spec.PodSelector.selects(labels) {
					for _, r := range p.Spec.Egress {
						if r.allows(protocol, port, "") {
							return true
						}
					}
				}
			}
			return false
		}
		need := map[string]int{"DNS": 53, "ClickHouse": chPort}
		if labels["app.kubernetes.io/name"] == "referralops-ingest" {
			need["Kafka"] = kafkaPort
		} else if egress("TCP", kafkaPort) {
			errs = append(errs, fmt.Errorf("%s: may reach Kafka (%d), which only the ingesters need", w.obj, kafkaPort))
		}
		for what, p := range need {
			if !egress("TCP", p) {
				errs = append(errs, fmt.Errorf("%s: no NetworkPolicy lets it reach %s (TCP %d)", w.obj, what, p))
			}
		}
		var exposed []string
		for _, s := range m.byKind("Service") {
			var svc struct {
				Spec struct {
					Selector map[string]string `yaml:"selector"`
					Ports    []struct {
						TargetPort string `yaml:"targetPort"`
					} `yaml:"ports"`
				} `yaml:"spec"`
			}
			if err := s.decode(&svc); err == nil && len(svc.Spec.Selector) > 0 && subset(svc.Spec.Selector, labels) {
				for _, p := range svc.Spec.Ports {
					exposed = append(exposed, p.TargetPort)
				}
			}
		}
		for _, c := range ps.Containers {
			for _, cp := range c.Ports {
				open := false
				for _, p := range policies {
					if p.Spec.PodSelector.selects(labels) {
						for _, r := range p.Spec.Ingress {
							open = open || r.allows("TCP", cp.ContainerPort, cp.Name)
						}
					}
				}
				if want := slices.Contains(exposed, cp.Name) || slices.Contains(exposed, strconv.Itoa(cp.ContainerPort)); open != want {
					errs = append(errs, fmt.Errorf("%s: port %s (%d) open to ingress %v, want %v (exposed by a Service)", w.obj, cp.Name, cp.ContainerPort, open, want))
				}
			}
		}
		if len(exposed) == 0 {
			for _, p := range policies {
				if p.Spec.PodSelector.selects(labels) && len(p.Spec.Ingress) > 0 {
					errs = append(errs, fmt.Errorf("%s: accepts ingress, but no Service exposes it", w.obj))
				}
			}
		}
	}
	return errs
}

func TestKubernetesNetworkPolicies(t *testing.T) {
	report(t, checkK8sNetwork(loadManifests(t)))
}

// TestKubernetesNetworkChecksCatch: each broken variant of the manifests is
// caught with the error that names it.
func TestKubernetesNetworkChecksCatch(t *testing.T) {
	for _, tc := range []struct{ name, file, old, new, want string }{
		{"no restricted profile", "namespace.yaml", "enforce: restricted", "enforce: baseline", "want restricted"},
		{"no default deny", "networkpolicy.yaml", "policyTypes: [Ingress, Egress]", "policyTypes: [Ingress]", "no default-deny"},
		{"no DNS", "networkpolicy.yaml", "{protocol: UDP, port: 53}\n        - {protocol: TCP, port: 53}", "{protocol: UDP, port: 54}", "reach DNS"},
		{"no ClickHouse", "networkpolicy.yaml", "{protocol: TCP, port: 9000}", "{protocol: TCP, port: 8123}", "reach ClickHouse (TCP 9000)"},
		{"Kafka for every pod", "networkpolicy.yaml", "matchLabels: {app.kubernetes.io/name: referralops-ingest}", "matchLabels: {app.kubernetes.io/part-of: referralops}", "which only the ingesters need"},
		{"Kafka for nobody", "networkpolicy.yaml", "{protocol: TCP, port: 9092}", "{protocol: TCP, port: 19092}", "reach Kafka (TCP 9092)"},
		{"metrics port closed", "networkpolicy.yaml", "values: [referralops-ingest, referralops-export]", "values: [referralops-ingest]", "referralops-export (export.yaml): port metrics (9464) open to ingress false"},
		{"ingress to the Job", "networkpolicy.yaml", "values: [referralops-ingest, referralops-export]", "values: [referralops-ingest, referralops-export, referralops-schema]", "accepts ingress"},
		{"no seccomp", "export.yaml", "seccompProfile: {type: RuntimeDefault}", "seccompProfile: {type: Unconfined}", "no seccompProfile RuntimeDefault"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, checkK8sNetwork(loadManifestsWith(t, tc.file, tc.old, tc.new)), tc.want)
		})
	}
}
