package selfmetrics_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/referralops/referralops/metrics/selfmetrics"
)

// TestIngest: the ingester's declarations follow the naming rules of
// metrics.Catalog: unique names under referralops_ingest_, _total for
// counters only, help, and bounded labels only (never an id).
func TestIngest(t *testing.T) {
	bounded := []string{selfmetrics.LabelTopic, selfmetrics.LabelPartition, selfmetrics.LabelOutcome, selfmetrics.LabelReason,
		selfmetrics.LabelCode, selfmetrics.LabelShard, selfmetrics.LabelReplica, selfmetrics.LabelFormat, selfmetrics.LabelHow}
	seen := map[string]bool{}
	for _, m := range selfmetrics.Ingest {
		if seen[m.Name] {
			t.Errorf("%s listed twice", m.Name)
		}
		seen[m.Name] = true
		if !strings.HasPrefix(m.Name, "referralops_ingest_") || m.Help == "" {
			t.Errorf("%s: want the referralops_ingest_ prefix and help", m.Name)
		}
		if (m.Type == selfmetrics.Counter) != strings.HasSuffix(m.Name, "_total") {
			t.Errorf("a %s named %s: only counters end in _total", m.Type, m.Name)
		}
		for _, l := range m.Labels {
			if !slices.Contains(bounded, l) {
				t.Errorf("%s: label %q is not one of %v", m.Name, l, bounded)
			}
		}
	}
	if len(seen) < 20 {
		t.Errorf("%d ingester metrics declared, want the ingester's 20", len(seen))
	}
}
