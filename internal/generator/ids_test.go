package generator_test

import (
	"regexp"
	"testing"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/generator"
)

// TestIDFormats checks each --id-format: ids are unique, have the format's
// shape, and sort by creation time only when sequential.
func TestIDFormats(t *testing.T) {
	shapes := map[generator.IDFormat]*regexp.Regexp{
		generator.IDSequential: regexp.MustCompile(`^R-[0-9]{8}$`),
		generator.IDRandom:     regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`),
		generator.IDEHR:        regexp.MustCompile(`^[1-5][0-9]{9}$`),
	}
	for _, format := range generator.IDFormats {
		t.Run(string(format), func(t *testing.T) {
			cfg := testConfig(5000)
			cfg.IDFormat = format
			msgs, _ := collect(t, cfg)
			seen := map[string]bool{}
			var created []string // in creation order: the stream is in time order
			for _, m := range msgs {
				if m.Type == event.ReferralCreated {
					created = append(created, string(m.Key))
				}
			}
			inversions := 0
			for i, id := range created {
				if !shapes[format].MatchString(id) {
					t.Fatalf("id %q does not look %s", id, format)
				}
				if seen[id] {
					t.Fatalf("id %q created twice", id)
				}
				seen[id] = true
				if i > 0 && id < created[i-1] {
					inversions++
				}
			}
			if len(created) != cfg.Referrals {
				t.Fatalf("%d referrals created, want %d", len(created), cfg.Referrals)
			}
			// Creation order is the simulation's order, so sequential ids
			// never go back; the others go back about half the time.
			if sorted := inversions == 0; sorted != (format == generator.IDSequential) {
				t.Errorf("%d of %d consecutive ids out of order", inversions, len(created)-1)
			}
		})
	}
}

func TestIDFormatFlag(t *testing.T) {
	var f generator.IDFormat
	if err := f.Set("ehr"); err != nil || f != generator.IDEHR {
		t.Fatalf("Set(ehr) = %v, %q", err, f)
	}
	if err := f.Set("uuid"); err == nil {
		t.Fatal("Set(uuid) accepted an unknown format")
	}
	cfg := testConfig(10)
	cfg.IDFormat = "uuid"
	if err := cfg.Validate(); err == nil {
		t.Fatal("Validate accepted an unknown id format")
	}
}
