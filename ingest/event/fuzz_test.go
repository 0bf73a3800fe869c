package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzDecode feeds Decode arbitrary values and headers (in the .headers
// sidecar format, so binary mode is reached too). Every outcome must be
// either an *Error with one of the eight reasons and a zero Event, or a valid
// Event that encodes (both modes) and decodes back to itself.
//
// The seed corpus in testdata/fuzz/FuzzDecode holds every message under
// testdata/valid and testdata/invalid; go test -update rewrites it.
func FuzzDecode(f *testing.F) {
	d := testDecoder(DefaultConfig())
	// Re-encoding can grow a message (binary attributes move into the value),
	// so the round trip is checked without the size limit.
	again := testDecoder(Config{MaxMessageBytes: math.MaxInt})
	f.Fuzz(func(t *testing.T, value, headerText []byte) {
		var headers []Header
		if len(headerText) > 0 {
			headers = parseHeaders(headerText)
		}
		ev, err := d.Decode(value, headers)
		// DecodeShared decides alike and gives the same Event.
		if shared, sharedErr := d.DecodeShared(value, headers); !reflect.DeepEqual(shared, ev) || !reflect.DeepEqual(sharedErr, err) {
			t.Fatalf("DecodeShared: %v, %+v; Decode: %v, %+v", sharedErr, shared, err, ev)
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not *Error: %v", err, err)
			}
			if !slices.Contains(Reasons(), e.Reason) {
				t.Fatalf("unknown reason %q", e.Reason)
			}
			if !reflect.DeepEqual(ev, Event{}) {
				t.Fatalf("non-zero Event with error %v", err)
			}
			return
		}
		checkInvariants(t, ev)
		b, err := Encode(ev)
		if err != nil {
			t.Fatalf("Encode of a decoded event: %v", err)
		}
		if got, err := again.Decode(b, nil); err != nil || !reflect.DeepEqual(got, ev) {
			t.Fatalf("structured round trip: %v\ngot  %+v\nwant %+v\n%s", err, got, ev, b)
		}
		value2, headers2 := EncodeBinary(ev)
		if got, err := again.Decode(value2, headers2); err != nil || !reflect.DeepEqual(got, ev) {
			t.Fatalf("binary round trip: %v\ngot  %+v\nwant %+v", err, got, ev)
		}
	})
}

// checkInvariants holds for every decoded Event.
func checkInvariants(t *testing.T, ev Event) {
	t.Helper()
	if _, ok := StreamOf(ev.Type); !ok {
		t.Fatalf("unknown type %q", ev.Type)
	}
	for _, tm := range []time.Time{ev.Time, ev.Data.ScheduledFor} {
		if tm.IsZero() {
			continue
		}
		if tm.Location() != time.UTC || tm.Nanosecond() != 0 || tm.Unix() < 0 || tm.Unix() > math.MaxUint32 {
			t.Fatalf("time %v not a UTC DateTime", tm)
		}
	}
	for _, s := range append([]string{ev.ID, ev.Source, ev.Subject, ev.Data.Reason, ev.Data.VisitType}, ev.Data.Missing...) {
		if !utf8.ValidString(s) {
			t.Fatalf("invalid UTF-8 kept: %q", s)
		}
	}
	if ev.Data.Missing != nil && len(ev.Data.Missing) == 0 {
		t.Fatal("empty non-nil missing")
	}
}

// FuzzParseTime checks the hand-written RFC 3339 parser against time.Parse:
// whatever one accepts in the DateTime range, the other accepts as the same
// instant.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{
		"2026-03-02T14:05:00Z", "2026-03-02T09:05:00.123456789-05:00", "2024-02-29T23:59:59+14:00",
		"1970-01-01T00:00:00Z", "2106-02-07T06:28:15Z", "2026-02-29T00:00:00Z", "2026-03-02T14:05:00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sec, nsec, bad := parseTime([]byte(s))
		ref, err := time.Parse(time.RFC3339Nano, s)
		if bad == "" {
			if err != nil {
				// Accepted by us only: lower-case t/z, or more than 9 fraction digits.
				lower := strings.ContainsAny(s, "tz")
				frac := len(s) > 20 && s[19] == '.'
				if !lower && !frac {
					t.Fatalf("%q: accepted, but time.Parse: %v", s, err)
				}
				return
			}
			if ref.Unix() != sec || ref.Nanosecond() != nsec {
				t.Fatalf("%q: got %d.%09d, time.Parse %d.%09d", s, sec, nsec, ref.Unix(), ref.Nanosecond())
			}
			return
		}
		// time.Parse is laxer than RFC 3339 (one-digit hours, comma fractions,
		// offset minutes past 59, offsets past 23h), so only inputs of the strict shape must agree.
		if err == nil && ref.Unix() >= 0 && ref.Unix() <= math.MaxUint32 && rfc3339Shape.MatchString(s) && !offsetOutOfRange(s) {
			t.Fatalf("%q: rejected (%s), but time.Parse gives %v", s, bad, ref)
		}
	})
}

var rfc3339Shape = regexp.MustCompile(`^\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)$`)

func offsetOutOfRange(s string) bool {
	if len(s) < 6 {
		return false
	}
	o := s[len(s)-6:]
	return (o[0] == '+' || o[0] == '-') && (o[1:3] > "23" || o[4:6] > "59")
}

// TestFuzzSeedCorpus keeps testdata/fuzz/FuzzDecode equal to the messages
// under testdata/valid and testdata/invalid (-update rewrites it), so the
// fuzzer starts from every case the table tests know.
func TestFuzzSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	want := map[string][]byte{}
	dirs, _ := filepath.Glob("testdata/invalid/*")
	for _, d := range append([]string{"testdata/valid"}, dirs...) {
		for _, m := range loadMessages(t, d) {
			var hs []byte
			if m.headers != nil {
				hs = readFile(t, m.path+".headers")
			}
			name := strings.ReplaceAll(strings.TrimPrefix(m.path, "testdata/"), "/", "_")
			want[name] = fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n[]byte(%q)\n", m.value, hs)
		}
	}
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range want {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	for name, b := range want {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("seed %s missing or stale (go test -run TestFuzzSeedCorpus -update)", name)
		}
	}
}

// FuzzEncode: whatever strings an Event holds, both encodings are valid JSON;
// and an event Encode accepts decodes back to itself (strings that are not
// UTF-8 are written as U+FFFD, so those are compared after that repair).
func FuzzEncode(f *testing.F) {
	f.Add("evt-1", "epic/prod", "R-1", "patient moved", "labs", int64(1772460300))
	f.Add("", "\x00", "bad subject", "\xff\xfe", "\"\\\n", int64(-1))
	d := testDecoder(Config{MaxMessageBytes: math.MaxInt})
	f.Fuzz(func(t *testing.T, id, source, subject, reason, missing string, unix int64) {
		for _, typ := range []Type{ReferralCancelled, ReferralInfoRequested} {
			ev := Event{ID: id, Source: source, Type: typ, Time: time.Unix(unix, 0).UTC(), Subject: subject}
			if typ == ReferralCancelled {
				ev.Data.Reason = reason
			} else {
				ev.Data.Missing = []string{missing, reason}
			}
			b := AppendEncode(nil, ev)
			if !json.Valid(b) {
				t.Fatalf("AppendEncode wrote invalid JSON: %s", b)
			}
			if value, _ := EncodeBinary(ev); !json.Valid(value) {
				t.Fatalf("EncodeBinary wrote invalid JSON: %s", value)
			}
			if _, err := Encode(ev); err != nil {
				if ReasonOf(err) == "" {
					t.Fatalf("Encode error is not *Error: %v", err)
				}
				continue
			}
			got, err := d.Decode(b, nil)
			if err != nil && ReasonOf(err) != ReasonFutureTime { // Encode has no clock
				t.Fatalf("Decode of an event Encode accepted: %v\n%s", err, b)
			}
			if err == nil && !reflect.DeepEqual(got, repairUTF8(ev)) {
				t.Fatalf("round trip:\ngot  %+v\nwant %+v", got, ev)
			}
		}
	})
}

func repairUTF8(ev Event) Event {
	fix := func(s string) string { // each invalid byte becomes one U+FFFD, as in encoding/json
		var b strings.Builder
		for _, r := range s {
			b.WriteRune(r)
		}
		return b.String()
	}
	ev.ID, ev.Source, ev.Subject, ev.Data.Reason = fix(ev.ID), fix(ev.Source), fix(ev.Subject), fix(ev.Data.Reason)
	if ev.Data.Missing != nil {
		ev.Data.Missing = []string{fix(ev.Data.Missing[0]), fix(ev.Data.Missing[1])}
	}
	return ev
}
