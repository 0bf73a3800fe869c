package testenv

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/generator"
)

// GenerateEvents simulates cfg with internal/generator and decodes every valid
// message as the ingester would, duplicates included, in delivery order (out of
// order and late with cfg.Shuffle); invalid messages are left out.
func GenerateEvents(t testing.TB, cfg generator.Config) []event.Event {
	t.Helper()
	var events []event.Event
	StreamEvents(t, cfg, func(e event.Event) { events = append(events, e) })
	return events
}

// StreamEvents is GenerateEvents handing each event to yield as it is made,
// for datasets too large to hold at once.
func StreamEvents(t testing.TB, cfg generator.Config, yield func(event.Event)) {
	t.Helper()
	// "Now" a month after the simulation ends: no generated event is future_time.
	dec := event.NewDecoder(event.DefaultConfig()).WithClock(func() time.Time { return cfg.End.Add(30 * 24 * time.Hour) })
	_, err := generator.Generate(context.Background(), cfg, func(m generator.Message) error {
		if m.Invalid != "" {
			return nil
		}
		e, err := dec.Decode(m.Value, m.Headers)
		if err != nil {
			return fmt.Errorf("generated event %s: %w", m.EventID, err)
		}
		yield(e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
