package ingest

import (
	"bytes"
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/testenv"
)

var tooLarge = &event.Error{Reason: event.ReasonTooLarge, Detail: "value is too long"}

func header(m kafka.Message, key string) (string, bool) {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// TestDeadLetterFits checks that every dead letter fits the writer's limit,
// losing original headers before any of the value.
func TestDeadLetterFits(t *testing.T) {
	src := func(value, hdr int) *kafka.Message {
		m := &kafka.Message{Topic: "referral-events", Partition: 3, Offset: 42, Key: []byte("k"), Value: bytes.Repeat([]byte("v"), value)}
		if hdr > 0 {
			m.Headers = []kafka.Header{{Key: "small", Value: []byte("s")}, {Key: "big", Value: bytes.Repeat([]byte("h"), hdr)}}
		}
		return m
	}
	for _, tc := range []struct {
		name           string
		m              *kafka.Message
		reduced        string
		value, headers int
		dropped, cutAt string
	}{
		{"fits", src(600<<10, 100), "", 600 << 10, 2, "", ""},
		{"big header dropped", src(600<<10, 420<<10), reducedHeadersDropped, 600 << 10, 1, "1", ""},
		{"value cut", src(1200<<10, 0), reducedValueCut, -1, 0, "", strconv.Itoa(1200 << 10)},
		{"both", src(990<<10, 420<<10), reducedValueCut, -1, 0, "2", strconv.Itoa(990 << 10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dl, reduced := deadLetter(tc.m, tooLarge)
			if reduced != tc.reduced {
				t.Errorf("reduced = %q, want %q", reduced, tc.reduced)
			}
			if n := messageBytes(&dl); n > maxDeadLetterBytes {
				t.Errorf("dead letter is %d bytes, over %d", n, maxDeadLetterBytes)
			}
			if tc.value >= 0 && len(dl.Value) != tc.value {
				t.Errorf("value %d bytes, want %d", len(dl.Value), tc.value)
			}
			original := 0
			for _, h := range dl.Headers {
				if h.Key == "small" || h.Key == "big" {
					original++
				}
			}
			if original != tc.headers {
				t.Errorf("%d original headers kept, want %d", original, tc.headers)
			}
			if got, _ := header(dl, HeaderHeadersDropped); got != tc.dropped {
				t.Errorf("%s = %q, want %q", HeaderHeadersDropped, got, tc.dropped)
			}
			if got, _ := header(dl, HeaderTruncated); got != tc.cutAt {
				t.Errorf("%s = %q, want %q", HeaderTruncated, got, tc.cutAt)
			}
			if got, _ := header(dl, HeaderOffset); got != "42" {
				t.Errorf("%s = %q, want 42", HeaderOffset, got)
			}
		})
	}
}

// TestDeadLetterStubOnWriterRefusal gives the real broker's writer a batch
// limit below a dead letter: kafka-go refuses it with MessageTooLargeError
// before writing anything, and the retry writes its stub and the other letter.
func TestDeadLetterStubOnWriterRefusal(t *testing.T) {
	kc := testenv.Topics(t, testenv.KafkaBrokers(t))
	w, err := broker.NewWriter(kc, kc.Topics.DeadLetters)
	if err != nil {
		t.Fatal(err)
	}
	w.BatchBytes = 64 << 10
	defer w.Close()
	big, _ := deadLetter(&kafka.Message{Topic: "a", Partition: 1, Offset: 7, Value: bytes.Repeat([]byte("v"), 100<<10)}, tooLarge)
	small, _ := deadLetter(&kafka.Message{Topic: "a", Partition: 1, Offset: 8, Value: []byte("{")}, tooLarge)
	stubs := 0
	pending := []kafka.Message{big, small}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt == 3 {
			t.Fatalf("dead letters still pending after %d attempts", attempt)
		}
		pending, _ = writeDeadLetters(ctx, w, pending, func() { stubs++ })
	}
	if stubs != 1 {
		t.Fatalf("%d stubs, want 1", stubs)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: kc.Brokers, Topic: kc.Topics.DeadLetters, GroupID: testenv.UniqueName("g")})
	defer r.Close()
	got := map[string]kafka.Message{}
	for len(got) < 2 {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		off, _ := header(m, HeaderOffset)
		got[off] = m
	}
	if m := got["7"]; !isStub(&m) || len(m.Key) != 0 {
		t.Errorf("offset 7 written as %d value bytes, headers %v; want a stub", len(m.Value), m.Headers)
	}
	if sum, _ := header(got["7"], HeaderValueSHA256); sum != string(valueSum(bytes.Repeat([]byte("v"), 100<<10))) {
		t.Errorf("stub hash %s is not the original value's", sum)
	}
	if m := got["8"]; string(m.Value) != "{" {
		t.Errorf("offset 8 written with value %q, want the original", m.Value)
	}
}
