package mapping

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/referralops/referralops/ingest/event"
)

func TestConfigErrors(t *testing.T) {
	cfg, err := LoadConfig(filepath.Join("testdata", "config", "bad.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "config", "bad.errors"))
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.Validate()
	if got == nil || got.Error() != strings.TrimSuffix(string(want), "\n") {
		t.Errorf("Validate() =\n%v\nwant\n%s", got, want)
	}
	if _, err := New(cfg, []byte(testKey)); err == nil {
		t.Error("New accepted an invalid config")
	}
	if _, err := LoadConfig(filepath.Join("testdata", "config", "missing.yaml")); err == nil {
		t.Error("LoadConfig of a missing file succeeded")
	}
	if err := (Config{}).Validate(); err == nil || !strings.Contains(err.Error(), "time_zone: required") {
		t.Errorf("empty config: %v", err)
	}
}

func TestKey(t *testing.T) {
	t.Setenv(KeyEnv, "")
	if _, err := KeyFromEnv(); err == nil {
		t.Error("no key accepted")
	}
	t.Setenv(KeyEnv, "too-short")
	if _, err := KeyFromEnv(); err == nil {
		t.Error("short key accepted")
	}
	t.Setenv(KeyEnv, testKey)
	if k, err := KeyFromEnv(); err != nil || string(k) != testKey {
		t.Errorf("KeyFromEnv() = %q, %v", k, err)
	}
	cfg := Config{TimeZone: "UTC"}
	if _, err := New(cfg, []byte("short")); err == nil {
		t.Error("New accepted a short key")
	}
}

const minimalREF = "MSH|^~\\&|APP|FAC|RCV|GENHOSP|20260302140500||REF^I12|CTL-1|P|2.5.1\r" +
	"PID|1||MRN0042^^^NORTHCLINIC^MR\r" +
	"RF1|P|R|CARD||O|RF-1\r" +
	"PRD|RP|X^Y|||||1234567893^NPI\r"

// TestIDsAndTokens: ids follow (app, facility, control id, type), so a
// redelivery has the same id and another message another; the patient token
// depends on the key and on (authority, MRN), and is not the MRN.
func TestIDsAndTokens(t *testing.T) {
	m := testMapper(t)
	a, b := m.HL7v2([]byte(minimalREF)), m.HL7v2([]byte(minimalREF))
	if a.Err != nil || len(a.Events) != 1 {
		t.Fatalf("outcome %+v", a)
	}
	if a.Events[0].ID != b.Events[0].ID {
		t.Error("a redelivered message has another event id")
	}
	for name, msg := range map[string]string{
		"control id": strings.Replace(minimalREF, "CTL-1", "CTL-2", 1),
		"app":        strings.Replace(minimalREF, "|APP|", "|APP2|", 1),
		"facility":   strings.Replace(minimalREF, "|FAC|", "|FAC2|", 1),
	} {
		if o := m.HL7v2([]byte(msg)); o.Events[0].ID == a.Events[0].ID {
			t.Errorf("another %s, same event id", name)
		}
	}
	tok := a.Events[0].Data.PatientToken
	if len(tok) != 64 || strings.Contains(tok, "MRN0042") {
		t.Errorf("token %q", tok)
	}
	other := strings.Replace(minimalREF, "NORTHCLINIC", "SOUTHCLINIC", 1)
	if o := m.HL7v2([]byte(other)); o.Events[0].Data.PatientToken == tok {
		t.Error("another assigning authority, same token")
	}
	m2, err := New(m.cfg, []byte(testKey+"-rotated"))
	if err != nil {
		t.Fatal(err)
	}
	if o := m2.HL7v2([]byte(minimalREF)); o.Events[0].Data.PatientToken == tok {
		t.Error("another key, same token")
	}
	noPID := strings.Replace(minimalREF, "PID|1||MRN0042^^^NORTHCLINIC^MR\r", "", 1)
	if o := m.HL7v2([]byte(noPID)); o.Err != nil || o.Events[0].Data.PatientToken != "" {
		t.Errorf("without PID: %+v", o)
	}
}

// TestSiteTime: an HL7 time without offset is in the site's zone.
func TestSiteTime(t *testing.T) {
	m := testMapper(t) // America/Chicago: UTC-6 in March
	o := m.HL7v2([]byte(minimalREF))
	if got := o.Events[0].Time.Format("2006-01-02T15:04:05Z07:00"); got != "2026-03-02T20:05:00Z" {
		t.Errorf("time %s", got)
	}
	cfg := m.cfg
	cfg.TimeZone = "Asia/Tokyo"
	tokyo, err := New(cfg, []byte(testKey))
	if err != nil {
		t.Fatal(err)
	}
	if got := tokyo.HL7v2([]byte(minimalREF)).Events[0].Time.Format("2006-01-02T15:04:05Z07:00"); got != "2026-03-02T05:05:00Z" {
		t.Errorf("Tokyo time %s", got)
	}
}

func TestLookup(t *testing.T) {
	codes := map[string]string{"MG-*": "a", "MG-01*": "b", "MG-012": "c"}
	for code, want := range map[string]string{"MG-012": "c", "MG-013": "b", "MG-9": "a", "X": ""} {
		got, err := lookup("t", codes, false, key{code, "F-1", true})
		if got != want || err != nil {
			t.Errorf("lookup(%s) = %q, %v, want %q", code, got, err, want)
		}
	}
	_, err := lookup("network", codes, true, key{"ORG-1", "PRD-10", true}, key{"1234567893", "PRD-7", false})
	if err == nil || err.Reason != event.ReasonUnmappedCode ||
		err.Error() != `unmapped_code: PRD-10: table network has no entry for "ORG-1" or the value of PRD-7` {
		t.Errorf("unmapped: %v", err)
	}
	_, err = lookup("network", codes, true, key{"", "PRD-10", true}, key{"", "MSH-6", true})
	if err == nil || err.Reason != event.ReasonMissingField || err.Field != "PRD-10 or MSH-6" {
		t.Errorf("no code: %v", err)
	}
	codes["*"] = "d"
	if got, _ := lookup("t", codes, true, key{"X", "F", true}); got != "d" {
		t.Errorf("default = %q", got)
	}
}

// TestTooLarge: a message over the contract's size limit is dead-lettered
// unparsed, in both formats.
func TestTooLarge(t *testing.T) {
	m := testMapper(t)
	big := make([]byte, event.DefaultMaxMessageBytes+1)
	for _, f := range []Format{FormatHL7v2, FormatFHIR} {
		if o := m.Map(f, big); o.Err == nil || o.Err.Reason != event.ReasonTooLarge {
			t.Errorf("%s: %+v", f, o)
		}
	}
}

// TestStateTable: every code of the state table maps to one state only, so
// v2 and FHIR cannot disagree about what a code means.
func TestStateTable(t *testing.T) {
	for _, col := range []stateColumn{colRF1, colORC1, colORC5, colSR, colTask,
		func(s referralState) []string { return s.bser }} {
		seen := map[string]string{}
		for _, s := range referralStates {
			for _, c := range col(s) {
				if prev, dup := seen[c]; dup {
					t.Errorf("code %q in states %s and %s", c, prev, s.name)
				}
				seen[c] = s.name
			}
		}
	}
	for code, want := range map[string]event.Type{"accepted": event.ReferralAccepted, "Referral Declined": event.ReferralRejected, " CANCELED ": event.ReferralCancelled} {
		if s, ok := stateOfBusinessStatus(code); !ok || s.event != want {
			t.Errorf("business status %q: %+v", code, s)
		}
	}
}

// TestReferrerTypeByProvider: the provider directory types the referring
// provider in both formats; a provider it lacks falls back to the
// organisation table; with neither, the error names the organisation but
// never the provider's id.
func TestReferrerTypeByProvider(t *testing.T) {
	base := testMapper(t).cfg
	base.Terminology.ReferrerType = map[string]string{"FAC": "primary_care"}
	base.Terminology.ReferrerTypeByProvider = map[string]string{"1234567893": "hospital"}
	m, err := New(base, []byte(testKey))
	if err != nil {
		t.Fatal(err)
	}
	other := strings.Replace(minimalREF, "1234567893^NPI", "1987654320^NPI", 1)
	for name, tc := range map[string]struct{ msg, want string }{
		"in the directory":  {minimalREF, "hospital"},
		"organisation only": {other, "primary_care"},
	} {
		o := m.HL7v2([]byte(tc.msg))
		if o.Err != nil || o.Events[0].Data.ReferrerType != tc.want {
			t.Errorf("%s: %s, referrer_type %q, want %q", name, o.Line(), o.Events[0].Data.ReferrerType, tc.want)
		}
	}
	o := m.HL7v2([]byte(strings.Replace(other, "|FAC|", "|FAC2|", 1)))
	if o.Err == nil || o.Err.Reason != event.ReasonUnmappedCode || strings.Contains(o.Line(), "1987654320") ||
		o.Line() != `dead_letter unmapped_code referrer organisation: table referrer_type has no entry for "FAC2" or the value of PRD(RP)-7` {
		t.Errorf("in neither table: %s", o.Line())
	}

	sr, err := os.ReadFile(filepath.Join("testdata", "fhir", "servicerequest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if o := m.FHIR(sr); o.Err != nil || o.Events[0].Data.ReferrerID != "1234567893" || o.Events[0].Data.ReferrerType != "hospital" {
		t.Errorf("FHIR requester in the directory: %s %+v", o.Line(), o.Events)
	}
}
