package main

import "testing"

// TestProcessRegistryGCCPU: the ingester's and exporter's /metrics serve the
// GC's CPU seconds, which bench.sh reports per million events.
func TestProcessRegistryGCCPU(t *testing.T) {
	mfs, err := processRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "go_cpu_classes_gc_total_cpu_seconds_total" {
			return
		}
	}
	t.Fatal("no go_cpu_classes_gc_total_cpu_seconds_total among the gathered families")
}
