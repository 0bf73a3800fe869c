package mapping

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/referralops/referralops/ingest/event"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current mapping")

// testKey is the patient token key of the tests (the golden tokens depend on it).
const testKey = "test-only-patient-token-key-0123456789"

func testMapper(t testing.TB) *Mapper {
	t.Helper()
	cfg, err := LoadConfig(filepath.Join("..", "..", "docs", "examples", "site-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(cfg, []byte(testKey))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// fixtures returns every input file with its format.
func fixtures(t testing.TB) map[string]Format {
	t.Helper()
	out := map[string]Format{}
	for dir, f := range map[string]Format{"hl7v2": FormatHL7v2, "fhir": FormatFHIR} {
		files, err := filepath.Glob(filepath.Join("testdata", dir, "*"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no fixtures in testdata/%s: %v", dir, err)
		}
		for _, p := range files {
			out[p] = f
		}
	}
	return out
}

// render is a fixture's golden text: per message its outcome line, then its
// events as convert prints them.
func render(m *Mapper, f Format, b []byte) string {
	var s strings.Builder
	msgs := Split(f, b)
	for i, msg := range msgs {
		o := m.Map(f, msg)
		s.WriteString("# message " + strconv.Itoa(i+1) + ": " + o.Line() + "\n")
		for _, e := range o.Encoded {
			s.Write(e)
			s.WriteByte('\n')
		}
	}
	return s.String()
}

// TestGolden maps every fixture and compares with testdata/golden; each
// message type and resource of STANDARDS.md has a fixture.
func TestGolden(t *testing.T) {
	m := testMapper(t)
	for path, f := range fixtures(t) {
		t.Run(path, func(t *testing.T) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got := render(m, f, b)
			golden := filepath.Join("testdata", "golden", filepath.Base(path)+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("mapping of %s changed (go test -update to accept):\n--- got\n%s--- want\n%s", path, got, want)
			}
		})
	}
}

// TestEveryTypeCovered: the fixtures produce every event type the standard
// formats carry, every skip reason and the new dead-letter reasons.
func TestEveryTypeCovered(t *testing.T) {
	m := testMapper(t)
	seen := map[string]bool{}
	for path, f := range fixtures(t) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, msg := range Split(f, b) {
			o := m.Map(f, msg)
			for _, e := range o.Events {
				seen[string(f)+" "+string(e.Type)] = true
			}
			if o.Skipped != "" {
				seen["skip "+string(o.Skipped)] = true
			}
			if o.Err != nil {
				seen[string(f)+" dead "+string(o.Err.Reason)] = true
			}
		}
	}
	want := []string{"skip unsupported_type", "skip no_referral_link", "skip not_referral", "skip no_event",
		"hl7v2 dead not_hl7v2", "hl7v2 dead unmapped_code", "hl7v2 dead bad_time", "hl7v2 dead missing_field", "hl7v2 dead invalid_field",
		"fhir dead not_fhir", "fhir dead unmapped_code", "fhir dead bad_time"}
	for _, typ := range []event.Type{event.ReferralCreated, event.ReferralAccepted, event.ReferralRejected, event.ReferralCancelled,
		event.AppointmentBooked, event.AppointmentCancelled, event.AppointmentNoShow, event.AppointmentCompleted, event.ConsultNoteSent} {
		want = append(want, "hl7v2 "+string(typ), "fhir "+string(typ))
	}
	want = append(want, "hl7v2 "+string(event.ReferralRedirected), "hl7v2 "+string(event.AppointmentRescheduled),
		"fhir "+string(event.ReferrerUpdateSent), "fhir "+string(event.PatientOutreach),
		"fhir "+string(event.ReferralAuthRequested), "fhir "+string(event.ReferralAuthDenied))
	for _, w := range want {
		if !seen[w] {
			t.Errorf("no fixture gives %s", w)
		}
	}
}

// TestNoPHI: none of the fake PHI of the fixtures (testdata/phi.txt: names,
// birth dates, addresses, phones, MRNs, SSNs, member ids, note text) reaches
// an event, an error or an outcome line. Each listed value must occur in a
// fixture, so the test cannot pass by listing nothing real.
func TestNoPHI(t *testing.T) {
	m := testMapper(t)
	phi := phiValues(t)
	var inputs, outputs bytes.Buffer
	for path, f := range fixtures(t) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		inputs.Write(b)
		outputs.WriteString(render(m, f, b))
	}
	for _, v := range phi {
		if !bytes.Contains(bytes.ToLower(inputs.Bytes()), []byte(strings.ToLower(v))) {
			t.Errorf("testdata/phi.txt lists %q, which no fixture contains", v)
		}
		if bytes.Contains(bytes.ToLower(outputs.Bytes()), []byte(strings.ToLower(v))) {
			t.Errorf("PHI %q reaches the output", v)
		}
	}
}

// phiValues reads testdata/phi.txt: one value a line, # comments.
func phiValues(t testing.TB) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "phi.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}
