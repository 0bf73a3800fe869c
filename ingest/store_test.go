package ingest

import (
	"context"
	"maps"
	"slices"
	"testing"

	"github.com/referralops/referralops/internal/testenv"
)

// TestInsertSettingsKnown: every setting an INSERT carries, --parallel-views'
// included, exists on 18.16 and on current ClickHouse (chDB 26.7); the server
// refuses a query with an unknown setting, so every INSERT would fail.
func TestInsertSettingsKnown(t *testing.T) {
	s := NewClickHouseStore(nil, "db", 1, true)
	names := slices.Sorted(maps.Keys(s.settings))
	if !slices.Contains(names, parallelViews) {
		t.Fatalf("settings with views on: %v, want %s among them", names, parallelViews)
	}
	if off := NewClickHouseStore(nil, "db", 1, false); off.settings[parallelViews] != nil {
		t.Errorf("settings with views off: %v", off.settings)
	}
	testenv.OnEngines(t, func(t *testing.T, e *testenv.Engine) {
		for _, name := range names {
			rows, err := e.Query(context.Background(), "SELECT count() FROM system.settings WHERE name = '"+name+"'")
			if err != nil {
				t.Fatal(err)
			}
			if rows[0][0] != "1" {
				t.Errorf("%s: setting %s unknown", e.Name, name)
			}
		}
	})
}
