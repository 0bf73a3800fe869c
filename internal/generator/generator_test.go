package generator_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/generator"
)

// testEnd is a fixed past day, so runs do not depend on the date.
var testEnd = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func testConfig(referrals int) generator.Config {
	cfg := generator.DefaultConfig()
	cfg.Referrals = referrals
	cfg.End = testEnd
	return cfg
}

// collect runs Generate and returns every message.
func collect(t testing.TB, cfg generator.Config) ([]generator.Message, generator.Stats) {
	t.Helper()
	var msgs []generator.Message
	stats, err := generator.Generate(context.Background(), cfg, func(m generator.Message) error {
		msgs = append(msgs, m)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return msgs, stats
}

// digest hashes everything a consumer sees of a run, in order.
func digest(t testing.TB, cfg generator.Config) [32]byte {
	t.Helper()
	h := sha256.New()
	_, err := generator.Generate(context.Background(), cfg, func(m generator.Message) error {
		h.Write([]byte{byte(m.Stream)})
		h.Write(m.Key)
		h.Write([]byte{0})
		h.Write(m.Value)
		for _, hd := range m.Headers {
			h.Write([]byte(hd.Key))
			h.Write(hd.Value)
		}
		h.Write([]byte(m.EventID))
		h.Write([]byte(m.Invalid))
		if m.Duplicate {
			h.Write([]byte{1})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

func TestGenerateIsDeterministic(t *testing.T) {
	cfg := testConfig(3000)
	cfg.Seed = 42
	cfg.DuplicateRatio = 0.05
	cfg.InvalidRatio = 0.01
	cfg.Shuffle = true
	cfg.MaxMessageBytes = 8 << 10
	cfg.Now = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC) // future_time messages depend on it

	first := digest(t, cfg)
	if again := digest(t, cfg); again != first {
		t.Fatal("same config gave different messages")
	}
	other := cfg
	other.Seed = 43
	if digest(t, other) == first {
		t.Fatal("seeds 42 and 43 gave the same messages")
	}
}

// The valid events must not depend on how they are delivered: the same seed
// with shuffling, duplicates and invalid messages carries the same events.
func TestDeliveryOptionsKeepTheEvents(t *testing.T) {
	plain := testConfig(2000)
	noisy := plain
	noisy.Shuffle, noisy.DuplicateRatio, noisy.InvalidRatio = true, 0.1, 0.02
	events := func(cfg generator.Config) []string {
		msgs, _ := collect(t, cfg)
		var out []string
		for _, m := range msgs {
			if m.Invalid == "" && !m.Duplicate {
				out = append(out, m.EventID+"|"+string(m.Value))
			}
		}
		slices.Sort(out)
		return out
	}
	if !slices.Equal(events(plain), events(noisy)) {
		t.Fatal("shuffle/duplicates/invalid changed the valid events")
	}
}

// Every valid message decodes with the real decoder to the event it claims to
// be; every invalid one is dead-lettered with exactly its expected reason.
func TestMessagesDecodeAsLabelled(t *testing.T) {
	cfg := testConfig(24_000)
	cfg.InvalidRatio = 0.01
	cfg.DuplicateRatio = 0.05
	cfg.Shuffle = true
	cfg.BinaryRatio = 0.1
	dec := event.NewDecoder(event.DefaultConfig())
	dayEnd := cfg.End.Add(24 * time.Hour)

	type seen struct {
		sum [32]byte
		n   int
	}
	originals := map[string]seen{}
	var (
		valid, invalid, dups, binary, binaryInvalid int
		reasonStreams                               = map[event.Reason]map[event.Stream]bool{}
		reasonBinary                                = map[event.Reason]int{}
		byType                                      = map[event.Type]int{}
	)
	stats, err := generator.Generate(context.Background(), cfg, func(m generator.Message) error {
		n := valid + invalid + dups
		e, err := dec.Decode(m.Value, m.Headers)
		if m.Invalid != "" {
			invalid++
			if got := event.ReasonOf(err); got != m.Invalid {
				t.Errorf("message %d: want dead letter %q, got %v", n, m.Invalid, err)
			}
			if m.EventID != "" || m.Type != "" || m.Duplicate {
				t.Errorf("message %d: invalid message carries id %q type %q duplicate %v", n, m.EventID, m.Type, m.Duplicate)
			}
			if bytes.IndexByte(m.Value, '\n') >= 0 {
				t.Errorf("message %d (%s) has a newline", n, m.Invalid)
			}
			if reasonStreams[m.Invalid] == nil {
				reasonStreams[m.Invalid] = map[event.Stream]bool{}
			}
			reasonStreams[m.Invalid][m.Stream] = true
			if len(m.Headers) > 0 {
				binaryInvalid++
				reasonBinary[m.Invalid]++
			}
			return nil
		}
		if err != nil {
			t.Errorf("message %d (%s %s) does not decode: %v\n%s", n, m.Type, m.EventID, err, m.Value)
			return nil
		}
		if e.ID != m.EventID || e.Type != m.Type || e.Subject != string(m.Key) || m.Stream != e.Type.Stream() {
			t.Errorf("message %d: labelled %s/%s/%s/%v, decodes to %s/%s/%s", n, m.EventID, m.Type, m.Key, m.Stream, e.ID, e.Type, e.Subject)
		}
		if !e.Time.Before(dayEnd) {
			t.Errorf("message %d: event time %s is not before the end of the last day %s", n, e.Time, dayEnd)
		}
		if !e.Time.After(cfg.End.AddDate(0, 0, -cfg.Days)) {
			t.Errorf("message %d: event time %s before the period", n, e.Time)
		}
		sum := sha256.Sum256(m.Value)
		if m.Duplicate {
			dups++
			o, ok := originals[m.EventID]
			if !ok {
				t.Errorf("message %d: duplicate of %s before its original", n, m.EventID)
			} else if o.sum != sum {
				t.Errorf("message %d: duplicate of %s has different bytes", n, m.EventID)
			}
			return nil
		}
		valid++
		byType[e.Type]++
		if len(m.Headers) > 0 {
			binary++
		}
		if _, ok := originals[m.EventID]; ok {
			t.Errorf("message %d: event id %s used twice", n, m.EventID)
		}
		originals[m.EventID] = seen{sum: sum, n: n}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	if valid < 100_000 {
		t.Fatalf("only %d valid events; the test wants at least 100k", valid)
	}
	if stats.Events != valid || stats.Duplicates != dups || stats.Invalid != invalid || stats.Referrals != cfg.Referrals {
		t.Errorf("stats %+v, counted events %d duplicates %d invalid %d", stats, valid, dups, invalid)
	}
	for typ, n := range byType {
		if stats.ByType[typ] != n {
			t.Errorf("stats.ByType[%s] = %d, counted %d", typ, stats.ByType[typ], n)
		}
	}
	for _, typ := range event.Types() {
		if byType[typ] == 0 {
			t.Errorf("no %s event", typ)
		}
	}
	for _, r := range event.Reasons() {
		if len(reasonStreams[r]) != 3 {
			t.Errorf("reason %s on %d streams, want all 3", r, len(reasonStreams[r]))
		}
		if reasonBinary[r] == 0 {
			t.Errorf("reason %s: no binary-mode message", r)
		}
		if n, want := stats.ByReason[r], stats.Invalid/8; n < want-1 || n > want+1 {
			t.Errorf("reason %s: %d messages, want an even share of %d (%d)", r, n, stats.Invalid, want)
		}
	}
	ratio := func(a, b int) float64 { return float64(a) / float64(b) }
	if r := ratio(invalid, valid); r < 0.008 || r > 0.012 {
		t.Errorf("invalid ratio %.4f, want about 0.01", r)
	}
	if r := ratio(dups, valid); r < 0.045 || r > 0.055 {
		t.Errorf("duplicate ratio %.4f, want about 0.05", r)
	}
	if r := ratio(binary, valid); r < 0.09 || r > 0.11 {
		t.Errorf("binary ratio %.4f, want about 0.1", r)
	}
	t.Logf("%d valid (%d binary), %d duplicates, %d invalid (%d binary)", valid, binary, dups, invalid, binaryInvalid)
}

func TestInOrderWithoutShuffle(t *testing.T) {
	msgs, _ := collect(t, testConfig(3000))
	dec := event.NewDecoder(event.DefaultConfig())
	var last time.Time
	for i, m := range msgs {
		e, err := dec.Decode(m.Value, m.Headers)
		if err != nil {
			t.Fatal(err)
		}
		if e.Time.Before(last) {
			t.Fatalf("message %d at %s after one at %s", i, e.Time, last)
		}
		last = e.Time
	}
}

// The shuffle window is counted in messages, lateness in event time: a busy
// pair of days (60k referrals) keeps the window to a few hours, so events a day or more
// behind the stream are the deliberately late ones.
func TestShuffleReordersAndDelays(t *testing.T) {
	cfg := testConfig(60_000)
	cfg.End = time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC) // Tuesday and Wednesday, then Thursday's follow-ups
	cfg.Days = 2
	cfg.Shuffle = true
	msgs, _ := collect(t, cfg)
	dec := event.NewDecoder(event.DefaultConfig())
	var latest, prev time.Time
	var inversions, late int
	for _, m := range msgs {
		e, err := dec.Decode(m.Value, m.Headers)
		if err != nil {
			t.Fatal(err)
		}
		if e.Time.Before(prev) {
			inversions++
		}
		prev = e.Time
		if latest.Sub(e.Time) >= 24*time.Hour {
			late++
		}
		if e.Time.After(latest) {
			latest = e.Time
		}
	}
	t.Logf("%d messages: %d before their predecessor, %d a day or more behind the stream", len(msgs), inversions, late)
	if inversions < len(msgs)*3/10 {
		t.Errorf("only %d of %d messages before their predecessor", inversions, len(msgs))
	}
	if late < len(msgs)/200 || late > len(msgs)*3/100 {
		t.Errorf("%d of %d messages a day or more late, want about 1%%", late, len(msgs))
	}
}

func TestGenerateStopsOnEmitErrorAndCancel(t *testing.T) {
	cfg := testConfig(2000)
	boom := errors.New("boom")
	n := 0
	_, err := generator.Generate(context.Background(), cfg, func(generator.Message) error {
		if n++; n == 100 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || n != 100 {
		t.Fatalf("got %v after %d messages, want boom after 100", err, n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := generator.Generate(ctx, cfg, func(generator.Message) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestEstimateMessages(t *testing.T) {
	cfg := testConfig(20_000)
	cfg.DuplicateRatio, cfg.InvalidRatio = 0.05, 0.01
	_, stats := collect(t, cfg)
	got := float64(generator.EstimateMessages(cfg))
	want := float64(stats.Events + stats.Duplicates + stats.Invalid)
	if got < 0.9*want || got > 1.1*want {
		t.Errorf("estimate %v, actual %v", got, want)
	}
}
