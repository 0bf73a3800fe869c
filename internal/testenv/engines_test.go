package testenv

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/schema"
)

func TestMain(m *testing.M) { Main(m) }

// TestEngineInsert: rows inserted on the server (native batch) and on chDB
// (TSV) are stored alike, text that needs escaping and arrays included, with
// the defaults for a missing slot and list.
func TestEngineInsert(t *testing.T) {
	at := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	rows := []Row{
		{EventID: "e1", EventType: "referral.info_requested", EventTime: at, ReferralID: "R-1",
			Source: "tab\there", Reason: "new\nline", PatientToken: `back\slash`, Channel: "quote'd",
			Missing: []string{"a'b", `c\d`, "e\tf"}, ScheduledFor: at.Add(48 * time.Hour),
			Topic: "scheduling-events", Partition: 3, Offset: 42, IngestedAt: at.Add(time.Hour)},
		{EventID: "e2", EventType: "referral.created", EventTime: at, ReferralID: "R-2", Source: "s"},
	}
	epoch, unix := "0", func(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
	want := [][]string{
		{"e1", "R-1", "tab\there", "new\nline", `back\slash`, "quote'd", "a'b|c\\d|e\tf", unix(at.Add(48 * time.Hour)),
			"scheduling-events", "3", "42", unix(at.Add(time.Hour))},
		{"e2", "R-2", "s", "", "", "", "", epoch, "", "0", "0", epoch},
	}
	OnEngines(t, func(t *testing.T, e *Engine) {
		db := e.Migrated(t)
		e.Insert(t, db, rows)
		got, err := e.Query(context.Background(), "SELECT event_id, referral_id, source, reason, patient_token, channel, "+
			"arrayStringConcat(missing, '|'), toString(toUInt32(scheduled_for)), kafka_topic, kafka_partition, kafka_offset, "+
			"toString(toUInt32(ingested_at)) FROM "+schema.EventsTable(db)+" ORDER BY event_id")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("%s stored\n %q\nwant\n %q", e.Name, got, want)
		}
	})
}

// TestGenerateAndLoad: a generated dataset decodes with its duplicates and
// without its invalid messages, and Load stores every event on both engines.
func TestGenerateAndLoad(t *testing.T) {
	cfg := generator.DefaultConfig()
	cfg.Seed = 5
	cfg.Referrals = 300
	cfg.Days = 60
	cfg.End = time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	cfg.DuplicateRatio = 0.1
	cfg.InvalidRatio = 0.1
	events := GenerateEvents(t, cfg)
	ids := map[string]bool{}
	for _, e := range events {
		ids[e.ID] = true
	}
	if len(ids) == 0 || len(ids) == len(events) {
		t.Fatalf("%d events with %d distinct ids: want some, duplicates among them", len(events), len(ids))
	}
	OnEngines(t, func(t *testing.T, e *Engine) {
		db := e.Migrated(t)
		e.Load(t, db, events)
		got, err := e.Query(context.Background(), "SELECT toString(uniqExact(event_id)), toString(countIf(ingested_at != toDateTime('"+
			LoadIngestedAt.Format(time.DateTime)+"', 'UTC'))) FROM "+schema.EventsTable(db))
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{strconv.Itoa(len(ids)), "0"}; !slices.Equal(got[0], want) {
			t.Errorf("%s stored %q (distinct events, rows ingested at another time), want %q", e.Name, got[0], want)
		}
	})
}
