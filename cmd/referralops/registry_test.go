package main

import "testing"

// TestProcessRegistryGCCPU: the ingester's and exporter's /metrics serve the
// GC's CPU seconds (and the idle-priority marking in them), which bench.sh
// reports per million events.
func TestProcessRegistryGCCPU(t *testing.T) {
	mfs, err := processRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, want := range []string{"go_cpu_classes_gc_total_cpu_seconds_total", "go_cpu_classes_gc_mark_idle_cpu_seconds_total"} {
		if !names[want] {
			t.Errorf("no %s among the gathered families", want)
		}
	}
}
