package generator_test

import (
	"context"
	"testing"
	"time"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/generator"
)

// TestProviders: the provider directory of Generate and of a Stream types
// every referring provider of their referrals as the referral.created says,
// and holds no self-referral.
func TestProviders(t *testing.T) {
	check := func(t *testing.T, dir map[string]string, msgs []generator.Message) {
		t.Helper()
		dec := event.NewDecoder(event.DefaultConfig()).WithClock(func() time.Time { return time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC) })
		n := 0
		for _, m := range msgs {
			if m.Invalid != "" || m.Type != event.ReferralCreated {
				continue
			}
			e, err := dec.Decode(m.Value, m.Headers)
			if err != nil {
				t.Fatal(err)
			}
			typ, ok := dir[e.Data.ReferrerID]
			if e.Data.ReferrerType == "self" {
				if ok {
					t.Fatalf("self-referrer %s in the directory", e.Data.ReferrerID)
				}
				continue
			}
			n++
			if typ != e.Data.ReferrerType {
				t.Fatalf("directory types %s %q, its referral says %q", e.Data.ReferrerID, typ, e.Data.ReferrerType)
			}
		}
		if n < 100 {
			t.Fatalf("only %d referrals checked", n)
		}
	}
	t.Run("generate", func(t *testing.T) {
		cfg := testConfig(800)
		msgs, _ := collect(t, cfg)
		check(t, generator.Providers(cfg), msgs)
	})
	t.Run("stream", func(t *testing.T) {
		cfg := generator.DefaultStreamConfig()
		from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		until := from.Add(120 * 24 * time.Hour) // long enough for seats to change hands
		s := newStream(t, cfg, from)
		var msgs []generator.Message
		if err := s.Advance(context.Background(), until, func(m generator.Message) error {
			msgs = append(msgs, m)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		check(t, s.Providers(until), msgs)
	})
}
