package dlq_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/ingest"
	"github.com/referralops/referralops/ingest/dlq"
)

func deadLetter(value []byte, extra ...kafka.Header) kafka.Message {
	return kafka.Message{
		Partition: 4, Offset: 17, Time: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
		Key: []byte("ref-1"), Value: value,
		Headers: append([]kafka.Header{
			{Key: "ce_id", Value: []byte("evt-1")},
			{Key: ingest.HeaderReason, Value: []byte("invalid_field")},
			{Key: ingest.HeaderError, Value: []byte("invalid_field: data.service_line: not allowed")},
			{Key: ingest.HeaderTopic, Value: []byte("referral-events")},
			{Key: ingest.HeaderPartition, Value: []byte("2")},
			{Key: ingest.HeaderOffset, Value: []byte("1234")},
		}, extra...),
	}
}

func TestDLQParse(t *testing.T) {
	m := deadLetter([]byte(`{"a":1}`))
	got := dlq.Parse(m)
	want := dlq.Letter{
		Partition: 4, Offset: 17, Time: m.Time, Reason: "invalid_field", Error: "invalid_field: data.service_line: not allowed",
		SourceTopic: "referral-events", SourcePartition: 2, SourceOffset: 1234, KeyBytes: 5, ValueBytes: 7, Headers: 1, Replayable: true,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse = %+v, want %+v", got, want)
	}
	for name, m := range map[string]kafka.Message{
		"truncated":       deadLetter([]byte(`{"a"`), kafka.Header{Key: ingest.HeaderTruncated, Value: []byte("2000000")}),
		"stub":            deadLetter(nil),
		"headers dropped": deadLetter([]byte(`{"a":1}`), kafka.Header{Key: ingest.HeaderHeadersDropped, Value: []byte("1")}),
		"no source":       {Value: []byte(`{}`), Headers: []kafka.Header{{Key: ingest.HeaderReason, Value: []byte("not_json")}}},
	} {
		if l := dlq.Parse(m); l.Replayable || l.NotReplayable == "" {
			t.Errorf("%s: Parse = %+v, want not replayable with a reason why", name, l)
		}
	}
}

func TestDLQOriginal(t *testing.T) {
	m := deadLetter([]byte(`{"a":1}`))
	got := dlq.Original(m, dlq.Parse(m))
	want := kafka.Message{Topic: "referral-events", Key: m.Key, Value: m.Value, Headers: []kafka.Header{{Key: "ce_id", Value: []byte("evt-1")}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Original = %+v, want %+v (the original headers only)", got, want)
	}
}
