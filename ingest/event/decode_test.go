package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"
)

var update = flag.Bool("update", false, "rewrite the expected .golden and .err files under testdata")

// testNow is the clock of the file tests: with the default 24h skew, event
// times up to 2026-03-04T00:00:00Z are accepted.
var testNow = time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)

func testDecoder(cfg Config) *Decoder {
	return NewDecoder(cfg).WithClock(func() time.Time { return testNow })
}

// message is one test message: a .json file (the value, byte for byte) and,
// for binary mode, its .headers sidecar (see testdata/README.md).
type message struct {
	path    string // without extension
	value   []byte
	headers []Header
}

func loadMessages(t *testing.T, dir string) []message {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no messages in %s", dir)
	}
	var ms []message
	for _, f := range files {
		m := message{path: strings.TrimSuffix(f, ".json")}
		if m.value, err = os.ReadFile(f); err != nil {
			t.Fatal(err)
		}
		if h, err := os.ReadFile(m.path + ".headers"); err == nil {
			m.headers = parseHeaders(h)
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	return ms
}

// parseHeaders reads the sidecar format: one `key: value` per line, the value
// taken verbatim after ": "; blank lines and lines starting with # skipped.
func parseHeaders(b []byte) []Header {
	var hs []Header
	for line := range strings.SplitSeq(string(b), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, _ := strings.Cut(line, ":")
		hs = append(hs, Header{Key: k, Value: []byte(strings.TrimPrefix(v, " "))})
	}
	return hs
}

// golden compares got with the file at path, or writes it with -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\ngot  %s\nwant %s", path, got, want)
	}
}

// canonical is the structured encoding of ev, indented: the golden form of a
// decoded event (it shows defaults, UTC times and dropped fields).
func canonical(t *testing.T, ev Event) []byte {
	t.Helper()
	b, err := Encode(ev)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatal(err)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

func TestDecodeValid(t *testing.T) {
	d := testDecoder(DefaultConfig())
	seen := map[Type]map[bool]bool{} // type → binary mode → seen
	for _, m := range loadMessages(t, "testdata/valid") {
		t.Run(filepath.Base(m.path), func(t *testing.T) {
			ev, err := d.Decode(m.value, m.headers)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if seen[ev.Type] == nil {
				seen[ev.Type] = map[bool]bool{}
			}
			seen[ev.Type][m.headers != nil] = true
			golden(t, m.path+".golden", canonical(t, ev))
			assertRoundTrip(t, d, ev)
		})
	}
	for _, typ := range Types() {
		if !seen[typ][false] {
			t.Errorf("no structured-mode file in testdata/valid for %s", typ)
		}
	}
	for _, typ := range []Type{ReferralCreated, ReferralAccepted, AppointmentBooked, ConsultNoteSent} {
		if !seen[typ][true] {
			t.Errorf("no binary-mode file in testdata/valid for %s", typ)
		}
	}
}

func TestDecodeInvalid(t *testing.T) {
	d := testDecoder(DefaultConfig())
	for _, reason := range Reasons() {
		if reason == ReasonTooLarge {
			continue // TestTooLarge
		}
		t.Run(string(reason), func(t *testing.T) {
			ms := loadMessages(t, filepath.Join("testdata/invalid", string(reason)))
			if len(ms) < 2 {
				t.Errorf("want at least 2 files for %s, have %d", reason, len(ms))
			}
			for _, m := range ms {
				t.Run(filepath.Base(m.path), func(t *testing.T) {
					ev, err := d.Decode(m.value, m.headers)
					if err == nil {
						t.Fatalf("Decode succeeded: %+v", ev)
					}
					var e *Error
					if !errors.As(err, &e) {
						t.Fatalf("error %T is not *Error: %v", err, err)
					}
					if e.Reason != reason {
						t.Errorf("reason %q, want %q (%v)", e.Reason, reason, err)
					}
					if !reflect.DeepEqual(ev, Event{}) {
						t.Errorf("Event not zero on error: %+v", ev)
					}
					golden(t, m.path+".err", []byte(err.Error()+"\n"))
				})
			}
		})
	}
}

func TestTooLarge(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxMessageBytes = 600
	d := testDecoder(cfg)
	ok := readFile(t, "testdata/valid/referral_created.json") // 640 bytes with its indentation
	var compact bytes.Buffer
	if err := json.Compact(&compact, ok); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Decode(compact.Bytes(), nil); err != nil {
		t.Fatalf("compact form (%d bytes) rejected: %v", compact.Len(), err)
	}
	edge := append(bytes.Repeat([]byte(" "), 600-compact.Len()), compact.Bytes()...)
	if _, err := d.Decode(edge, nil); err != nil {
		t.Fatalf("exactly 600 bytes rejected: %v", err)
	}

	_, headers := EncodeBinary(Event{ID: "e", Type: ReferralAccepted, Time: testNow, Subject: "R-1", Source: "s"})
	for _, tc := range []struct {
		name    string
		value   []byte
		headers []Header
	}{
		{"structured", ok, nil},
		{"one_byte_over", append([]byte(" "), edge...), nil},
		{"not_json_but_too_large", bytes.Repeat([]byte{0xff}, 601), nil}, // size is checked first
		{"binary", bytes.Repeat([]byte(" "), 601), headers},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.Decode(tc.value, tc.headers)
			want := "too_large: message is " + strconv.Itoa(len(tc.value)) + " bytes, limit 600"
			if ReasonOf(err) != ReasonTooLarge || err.Error() != want {
				t.Errorf("got %v, want %s", err, want)
			}
		})
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// assertRoundTrip checks that ev survives both encodings unchanged.
func assertRoundTrip(t *testing.T, d *Decoder, ev Event) {
	t.Helper()
	b, err := Encode(ev)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if got, err := d.Decode(b, nil); err != nil {
		t.Errorf("Decode(Encode(ev)): %v\n%s", err, b)
	} else if !reflect.DeepEqual(got, ev) {
		t.Errorf("structured round trip:\ngot  %+v\nwant %+v", got, ev)
	}
	if b2 := AppendEncode([]byte("prefix"), ev); !bytes.Equal(b2[len("prefix"):], b) {
		t.Errorf("AppendEncode differs from Encode:\n%s\n%s", b2, b)
	}
	value, headers := EncodeBinary(ev)
	if got, err := d.Decode(value, headers); err != nil {
		t.Errorf("Decode(EncodeBinary(ev)): %v\n%s %q", err, value, headers)
	} else if !reflect.DeepEqual(got, ev) {
		t.Errorf("binary round trip:\ngot  %+v\nwant %+v", got, ev)
	}
}

// sampleEvents returns one event of every type with every field it carries
// set, as Decode would return it.
func sampleEvents() []Event {
	at := time.Date(2026, 3, 2, 14, 5, 0, 0, time.UTC)
	var evs []Event
	for i, typ := range Types() {
		ev := Event{ID: "evt-" + string(typ), Source: "src/" + typ.Stream().String(), Type: typ,
			Time: at.Add(time.Duration(i) * time.Minute), Subject: "R-000042"}
		d := &ev.Data
		switch typ {
		case ReferralCreated:
			*d = Data{ReferrerID: "1234567893", ReferrerOrgID: "ORG-1", ReferrerType: "hospital", ReferrerNetwork: "out",
				ServiceLine: "oncology", LocationID: "LOC-1", DestinationNetwork: "in", PayerClass: "medicare_advantage",
				Priority: "urgent", Channel: "hl7", PatientToken: "pt_abc"}
		case ReferralRejected:
			d.Reason = "insurance"
		case ReferralInfoRequested:
			d.Missing = []string{"labs", "imaging \"CT\"\n", "é😀"}
		case ReferralAuthDenied:
			d.Reason = "benefit limit reached"
		case ReferralRedirected:
			d.DestinationNetwork, d.DestinationOrgID = "out", "ORG/ext:9"
		case ReferralLeaked:
			d.Reason = "access"
		case ReferralCancelled:
			d.Reason = "patient moved\taway"
		case AppointmentBooked:
			d.AppointmentID, d.ScheduledFor, d.LocationID, d.VisitType = "A-1", at.Add(72*time.Hour), "LOC-2", "follow-up"
		case AppointmentRescheduled:
			d.AppointmentID, d.ScheduledFor = "A-1", at.Add(96*time.Hour)
		case AppointmentCancelled:
			d.AppointmentID, d.CancelledBy = "A-1", "system"
		case AppointmentNoShow, AppointmentCompleted:
			d.AppointmentID = "A-1"
		case ConsultNoteSent:
			d.Channel, d.Recipient = "fhir", "pcp"
		case PatientOutreach:
			d.Outcome = "no_answer"
		}
		evs = append(evs, ev)
	}
	return evs
}

func TestRoundTrip(t *testing.T) {
	d := testDecoder(DefaultConfig())
	for _, ev := range sampleEvents() {
		t.Run(string(ev.Type), func(t *testing.T) { assertRoundTrip(t, d, ev) })
	}
}

func TestDefaults(t *testing.T) {
	d := testDecoder(DefaultConfig())
	ev, err := d.Decode(readFile(t, "testdata/valid/referral_created_defaults.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Data.PayerClass != "unknown" || ev.Data.Priority != "routine" || ev.Data.Channel != "" {
		t.Errorf("payer_class %q priority %q channel %q, want unknown, routine, empty", ev.Data.PayerClass, ev.Data.Priority, ev.Data.Channel)
	}
	// null counts as absent, so it gets the default too
	ev, err = d.Decode(readFile(t, "testdata/valid/referral_created_unknown_fields.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Data.PayerClass != "unknown" || ev.Data.Priority != "routine" {
		t.Errorf("null fields: payer_class %q priority %q", ev.Data.PayerClass, ev.Data.Priority)
	}
	ev, err = d.Decode(readFile(t, "testdata/valid/communication_consult_note_sent.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Data.Recipient != "referrer" {
		t.Errorf("recipient %q, want referrer", ev.Data.Recipient)
	}
	// Defaults belong to their types only.
	ev, err = d.Decode(readFile(t, "testdata/valid/referral_accepted.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ev.Data, Data{}) {
		t.Errorf("referral.accepted has data %+v", ev.Data)
	}
}

func TestTimes(t *testing.T) {
	d := testDecoder(DefaultConfig())
	for _, tc := range []struct{ in, want string }{
		{"2026-03-02T14:05:00Z", "2026-03-02T14:05:00Z"},
		{"2026-03-02T09:05:00-05:00", "2026-03-02T14:05:00Z"},
		{"2026-03-02T23:35:00+09:30", "2026-03-02T14:05:00Z"},
		{"2026-03-02T14:05:00.999999999Z", "2026-03-02T14:05:00Z"}, // truncated, not rounded
		{"2026-03-02T14:05:00.5+00:00", "2026-03-02T14:05:00Z"},
		{"2026-03-02t14:05:00z", "2026-03-02T14:05:00Z"},
		{"2026-03-02T14:05:00-00:00", "2026-03-02T14:05:00Z"},
		{"2024-02-29T00:00:00Z", "2024-02-29T00:00:00Z"},
		{"1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"},
		{"1970-01-01T01:00:00+01:00", "1970-01-01T00:00:00Z"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			ev := sampleEvents()[0]
			b := AppendEncode(nil, ev)
			b = bytes.Replace(b, []byte(`"2026-03-02T14:05:00Z"`), []byte(`"`+tc.in+`"`), 1)
			got, err := d.Decode(b, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got.Time.Location() != time.UTC {
				t.Errorf("location %v, want UTC", got.Time.Location())
			}
			if s := got.Time.Format(time.RFC3339Nano); s != tc.want {
				t.Errorf("time %s, want %s", s, tc.want)
			}
		})
	}
	// scheduled_for: converted the same way, and may lie far in the future.
	b := AppendEncode(nil, Event{ID: "e", Source: "s", Type: AppointmentBooked, Time: testNow, Subject: "R-1"})
	b = bytes.Replace(b, []byte(`"data":{}`), []byte(`"data":{"appointment_id":"A-1","scheduled_for":"2027-01-01T08:30:15.25+05:30"}`), 1)
	got, err := d.Decode(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2027, 1, 1, 3, 0, 15, 0, time.UTC); got.Data.ScheduledFor != want {
		t.Errorf("scheduled_for %v, want %v", got.Data.ScheduledFor, want)
	}
}

func TestFutureSkewBoundary(t *testing.T) {
	for _, tc := range []struct {
		skew   time.Duration
		offset time.Duration // event time - now
		ok     bool
	}{
		{24 * time.Hour, 24 * time.Hour, true},
		{24 * time.Hour, 24*time.Hour + time.Nanosecond, false},
		{24 * time.Hour, 24*time.Hour + time.Second, false},
		{24 * time.Hour, -365 * 24 * time.Hour, true}, // the past is fine however old
		{time.Minute, time.Minute, true},
		{time.Minute, time.Minute + time.Second, false},
	} {
		cfg := DefaultConfig()
		cfg.MaxFutureSkew = tc.skew
		d := testDecoder(cfg)
		ev := sampleEvents()[1]
		ev.Time = testNow.Add(tc.offset)
		_, err := d.Decode(AppendEncode(nil, ev), nil)
		if tc.ok != (err == nil) {
			t.Errorf("skew %v, time now%+v: got %v, want ok=%v", tc.skew, tc.offset, err, tc.ok)
		}
		if err != nil && (ReasonOf(err) != ReasonFutureTime || err.Error() != "future_time: time: more than "+tc.skew.String()+" in the future") {
			t.Errorf("got %v", err)
		}
	}
	// The clock is read per call.
	now := testNow
	d := NewDecoder(DefaultConfig()).WithClock(func() time.Time { return now })
	ev := sampleEvents()[1]
	ev.Time = testNow.Add(25 * time.Hour)
	msg := AppendEncode(nil, ev)
	if _, err := d.Decode(msg, nil); ReasonOf(err) != ReasonFutureTime {
		t.Fatalf("got %v", err)
	}
	now = now.Add(time.Hour)
	if _, err := d.Decode(msg, nil); err != nil {
		t.Fatalf("after the clock moved: %v", err)
	}
}

// TestFutureTimeReadsClockOnce: events before the limit read last do not read
// the clock again (it was 3% of the ingester's CPU); one past it does.
func TestFutureTimeReadsClockOnce(t *testing.T) {
	reads := 0
	d := NewDecoder(DefaultConfig()).WithClock(func() time.Time { reads++; return testNow })
	ev := sampleEvents()[1]
	for i := range 100 {
		ev.Time = testNow.Add(-time.Duration(i) * time.Minute)
		if _, err := d.Decode(AppendEncode(nil, ev), nil); err != nil {
			t.Fatal(err)
		}
	}
	if reads != 1 {
		t.Errorf("the clock was read %d times for 100 past events, want 1", reads)
	}
	ev.Time = testNow.Add(24*time.Hour + time.Second)
	if _, err := d.Decode(AppendEncode(nil, ev), nil); ReasonOf(err) != ReasonFutureTime {
		t.Fatalf("an event past the limit: got %v", err)
	}
	if reads != 2 {
		t.Errorf("the clock was read %d times after an event past the limit, want 2", reads)
	}
}

func TestExtraServiceLines(t *testing.T) {
	msg := readFile(t, "testdata/invalid/invalid_field/service_line_unknown.json") // sleep_medicine
	if _, err := testDecoder(DefaultConfig()).Decode(msg, nil); ReasonOf(err) != ReasonInvalidField {
		t.Fatalf("default config: got %v", err)
	}
	cfg := DefaultConfig()
	cfg.ExtraServiceLines = []string{"sleep_medicine", "cardiology", "wound_care"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	d := testDecoder(cfg)
	ev, err := d.Decode(msg, nil)
	if err != nil {
		t.Fatalf("with extra service line: %v", err)
	}
	if ev.Data.ServiceLine != "sleep_medicine" {
		t.Errorf("service_line %q", ev.Data.ServiceLine)
	}
	if unsafe.StringData(ev.Data.ServiceLine) != unsafe.StringData(cfg.ExtraServiceLines[0]) {
		t.Error("extra service line not interned")
	}
	// The error lists the extras after the built-in set, once each.
	bad := bytes.Replace(msg, []byte("sleep_medicine"), []byte("podiatry"), 1)
	_, err = d.Decode(bad, nil)
	want := `invalid_field: data.service_line: "podiatry" is not one of ` + strings.Join(ServiceLines(), ", ") + ", sleep_medicine, wound_care"
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	// Config is copied: changing it later does not change the decoder.
	cfg.ExtraServiceLines[0] = "changed"
	if _, err := d.Decode(msg, nil); err != nil {
		t.Errorf("after changing cfg: %v", err)
	}
}

func TestUnknownFieldsIgnored(t *testing.T) {
	d := testDecoder(DefaultConfig())
	with, err := d.Decode(readFile(t, "testdata/valid/referral_created_unknown_fields.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The same event without the unknown members decodes the same.
	plain := with
	plain.Data.PayerClass, plain.Data.Priority = "unknown", "routine"
	if !reflect.DeepEqual(with, plain) {
		t.Errorf("got %+v", with)
	}
	// Fields of other types are ignored, not stored.
	ev, err := d.Decode(readFile(t, "testdata/valid/referral_auth_approved.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Data.Reason != "" {
		t.Errorf("reason %q stored for referral.auth_approved", ev.Data.Reason)
	}
}

func TestInterned(t *testing.T) {
	d := testDecoder(DefaultConfig())
	ev, err := d.Decode(readFile(t, "testdata/valid/referral_created.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	same := func(got string, set *enum) bool {
		for _, v := range set.values {
			if unsafe.StringData(got) == unsafe.StringData(v) {
				return true
			}
		}
		return false
	}
	for name, c := range map[string]struct {
		got string
		set *enum
	}{
		"referrer_type":       {ev.Data.ReferrerType, referrerTypes},
		"referrer_network":    {ev.Data.ReferrerNetwork, networks},
		"destination_network": {ev.Data.DestinationNetwork, networks},
		"payer_class":         {ev.Data.PayerClass, payerClasses},
		"priority":            {ev.Data.Priority, priorities},
		"channel":             {ev.Data.Channel, referralChannels},
		"service_line":        {ev.Data.ServiceLine, d.serviceLines},
	} {
		if !same(c.got, c.set) {
			t.Errorf("%s %q is not the canonical string", name, c.got)
		}
	}
	if unsafe.StringData(string(ev.Type)) != unsafe.StringData(string(ReferralCreated)) {
		t.Error("type is not the canonical string")
	}
}

// TestDecodeAllocs guards the allocation budget of the hot path: the
// strings an Event keeps share one allocation.
func TestDecodeAllocs(t *testing.T) {
	d := testDecoder(DefaultConfig())
	var compact bytes.Buffer
	if err := json.Compact(&compact, readFile(t, "testdata/valid/referral_created.json")); err != nil {
		t.Fatal(err)
	}
	msg := compact.Bytes()
	ev, err := d.Decode(msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	value, headers := EncodeBinary(ev)
	for name, run := range map[string]func(){
		"structured":        func() { d.Decode(msg, nil) },
		"binary":            func() { d.Decode(value, headers) },
		"append":            func() { AppendEncode(msg[:0:len(msg)], ev) },
		"structured_shared": func() { d.DecodeShared(msg, nil) },
	} {
		want := 1.0
		if name == "append" || name == "structured_shared" {
			want = 0
		}
		if n := testing.AllocsPerRun(100, run); n > want {
			t.Errorf("%s: %v allocations, want %v", name, n, want)
		}
	}
}

// TestDecodeShared checks that DecodeShared's strings share the message's
// memory, except those it had to unescape, and read as Decode's do.
func TestDecodeShared(t *testing.T) {
	d := testDecoder(DefaultConfig())
	msg := readFile(t, "testdata/valid/referral_created.json")
	msg = bytes.Replace(msg, []byte(`"subject": "`), []byte(`"subject": "\u0052`), 1) // an escaped R
	want, err := d.Decode(msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.DecodeShared(msg, nil)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeShared: %v\ngot  %+v\nwant %+v", err, got, want)
	}
	within := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		start := uintptr(unsafe.Pointer(&msg[0]))
		return p >= start && p < start+uintptr(len(msg))
	}
	if !within(got.ID) || !within(got.Data.ReferrerID) {
		t.Error("id and referrer_id do not share the message's memory")
	}
	if within(got.Subject) || !strings.HasPrefix(got.Subject, "R") {
		t.Errorf("the escaped subject %q was not unescaped into memory of its own", got.Subject)
	}
}

// TestErrorsHideValues checks the PHI rule: identifier and free-text values
// and times never appear in error messages.
func TestErrorsHideValues(t *testing.T) {
	d := testDecoder(DefaultConfig())
	const secret = "Jane_Doe-1970"
	base := sampleEvents()[0]
	for name, mutate := range map[string]func(*Event){
		"subject":       func(e *Event) { e.Subject = secret + " x" },
		"referrer_id":   func(e *Event) { e.Data.ReferrerID = secret + "!" },
		"patient_token": func(e *Event) { e.Data.PatientToken = secret + strings.Repeat("x", 200) },
		"location_id":   func(e *Event) { e.Data.LocationID = "" },
		"id":            func(e *Event) { e.ID = secret + strings.Repeat("x", 200) },
		"source":        func(e *Event) { e.Source = secret + strings.Repeat("x", 300) },
	} {
		e := base
		mutate(&e)
		_, err := d.Decode(AppendEncode(nil, e), nil)
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if strings.Contains(err.Error(), "Jane") {
			t.Errorf("%s: error shows the value: %v", name, err)
		}
	}
	for _, e := range []Event{
		{ID: "e", Source: "s", Type: ReferralInfoRequested, Time: testNow, Subject: "R-1", Data: Data{Missing: []string{secret + strings.Repeat("x", 200)}}},
		{ID: "e", Source: "s", Type: ReferralAuthDenied, Time: testNow, Subject: "R-1", Data: Data{Reason: secret + strings.Repeat("x", 300)}},
	} {
		_, err := d.Decode(AppendEncode(nil, e), nil)
		if err == nil || strings.Contains(err.Error(), "Jane") {
			t.Errorf("%s: %v", e.Type, err)
		}
	}
}

func TestBinaryHeaders(t *testing.T) {
	d := testDecoder(DefaultConfig())
	ev := sampleEvents()[0]
	value, headers := EncodeBinary(ev)

	t.Run("invalid_utf8_header", func(t *testing.T) {
		hs := slices.Clone(headers)
		for i := range hs {
			if hs[i].Key == "ce_source" {
				hs[i].Value = []byte("src\xff")
			}
		}
		_, err := d.Decode(value, hs)
		if err == nil || err.Error() != "invalid_field: source: header value is not valid UTF-8" {
			t.Errorf("got %v", err)
		}
	})
	t.Run("last_header_wins", func(t *testing.T) {
		hs := append(slices.Clone(headers), Header{Key: "ce_subject", Value: []byte("R-2")})
		got, err := d.Decode(value, hs)
		if err != nil || got.Subject != "R-2" {
			t.Errorf("got %q, %v", got.Subject, err)
		}
	})
	t.Run("ce_id_alone_selects_binary", func(t *testing.T) {
		var hs []Header
		for _, h := range headers {
			if h.Key != "ce_specversion" {
				hs = append(hs, h)
			}
		}
		if got, err := d.Decode(value, hs); err != nil || !reflect.DeepEqual(got, ev) {
			t.Errorf("got %+v, %v", got, err)
		}
	})
	t.Run("other_headers_keep_structured", func(t *testing.T) {
		hs := []Header{{Key: "content-type", Value: []byte("application/cloudevents+json")}, {Key: "ce_type", Value: []byte("x")}}
		if got, err := d.Decode(AppendEncode(nil, ev), hs); err != nil || !reflect.DeepEqual(got, ev) {
			t.Errorf("got %+v, %v", got, err)
		}
	})
	t.Run("header_values_do_not_alias", func(t *testing.T) {
		_, hs := EncodeBinary(ev)
		before := string(hs[2].Value)
		_ = append(hs[1].Value, "XXXXXXXX"...)
		if string(hs[2].Value) != before {
			t.Errorf("appending to ce_id changed ce_type")
		}
	})
}

func TestErrorAPI(t *testing.T) {
	err := error(&Error{Reason: ReasonInvalidField, Field: "data.priority", Detail: `"asap" is not one of routine, urgent, stat`})
	if got := err.Error(); got != `invalid_field: data.priority: "asap" is not one of routine, urgent, stat` {
		t.Errorf("Error() = %s", got)
	}
	if got := (&Error{Reason: ReasonNotJSON, Detail: "x"}).Error(); got != "not_json: x" {
		t.Errorf("Error() = %s", got)
	}
	wrapped := errors.Join(errors.New("topic t partition 1"), err)
	if ReasonOf(wrapped) != ReasonInvalidField {
		t.Errorf("ReasonOf(wrapped) = %q", ReasonOf(wrapped))
	}
	if ReasonOf(errors.New("x")) != "" || ReasonOf(nil) != "" {
		t.Error("ReasonOf of a foreign error is not empty")
	}
	want := []Reason{"not_json", "not_cloudevent", "missing_field", "unknown_type", "invalid_field", "bad_time", "future_time", "too_large"}
	if got := Reasons(); !slices.Equal(got, want) {
		t.Errorf("Reasons() = %v", got)
	}
	Reasons()[0] = "mutated"
	if Reasons()[0] != ReasonNotJSON {
		t.Error("Reasons() shares its slice")
	}
	if got := quote([]byte(strings.Repeat("é", 20))); got != `"`+strings.Repeat("é", 16)+`"...` {
		t.Errorf("quote cut mid-rune: %s", got)
	}
}

func TestTypes(t *testing.T) {
	if n := len(Types()); n != 19 {
		t.Errorf("%d types, want 19", n)
	}
	streams := map[Stream]int{}
	for _, typ := range Types() {
		s, ok := StreamOf(typ)
		if !ok || s != typ.Stream() {
			t.Errorf("StreamOf(%s) = %v, %v", typ, s, ok)
		}
		prefix, _, _ := strings.Cut(string(typ), ".")
		if want := map[string]Stream{"referral": StreamReferral, "appointment": StreamScheduling, "communication": StreamCommunication}[prefix]; s != want {
			t.Errorf("%s: stream %v, want %v", typ, s, want)
		}
		streams[s]++
	}
	if streams[StreamReferral] != 11 || streams[StreamScheduling] != 5 || streams[StreamCommunication] != 3 {
		t.Errorf("types per stream: %v", streams)
	}
	if s, ok := StreamOf("referral.updated"); ok || s != StreamUnknown || Type("x").Stream() != StreamUnknown {
		t.Errorf("unknown type: %v %v", s, ok)
	}
	if StreamScheduling.String() != "scheduling" || StreamUnknown.String() != "unknown" {
		t.Error("Stream.String")
	}
	if len(ServiceLines()) != 12 || ServiceLines()[0] != "cardiology" {
		t.Errorf("ServiceLines() = %v", ServiceLines())
	}
}

// TestDecodeConcurrent: one Decoder serves many goroutines (run with -race).
func TestDecodeConcurrent(t *testing.T) {
	d := testDecoder(DefaultConfig())
	evs := sampleEvents()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				ev := evs[(g+i)%len(evs)]
				got, err := d.Decode(AppendEncode(nil, ev), nil)
				if err != nil || !reflect.DeepEqual(got, ev) {
					t.Errorf("%s: %v", ev.Type, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestSkipPlain checks the eight-bytes-at-a-time scan against the byte-wise
// definition: every byte value at every position of strings that straddle
// the eight-byte steps, alone and after another byte that needs attention.
func TestSkipPlain(t *testing.T) {
	want := func(b []byte, i int) int {
		for i < len(b) && plain[b[i]] {
			i++
		}
		return i
	}
	for n := 1; n <= 20; n++ {
		for pos := range n {
			for c := range 256 {
				b := bytes.Repeat([]byte{'a'}, n)
				b[pos] = byte(c)
				if got, w := skipPlain(b, 0), want(b, 0); got != w {
					t.Fatalf("skipPlain(%q, 0) = %d, want %d", b, got, w)
				}
				if pos+1 < n {
					b[pos+1] = '"'
					if got, w := skipPlain(b, 0), want(b, 0); got != w {
						t.Fatalf("skipPlain(%q, 0) = %d, want %d", b, got, w)
					}
				}
				if got, w := skipPlain(b, 1), want(b, 1); got != w {
					t.Fatalf("skipPlain(%q, 1) = %d, want %d", b, got, w)
				}
			}
		}
	}
}
