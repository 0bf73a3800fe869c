package main

import (
	"strings"
	"testing"
)

// TestRunRefusesAnotherRoot: a root without go.mod writes nothing and says
// why, instead of a second tree of generated files in the wrong place.
func TestRunRefusesAnotherRoot(t *testing.T) {
	dir := t.TempDir()
	if err := run(dir); err == nil || !strings.Contains(err.Error(), "not the repository root") {
		t.Errorf("run(%s) = %v, want an error saying it is not the repository root", dir, err)
	}
}
