package sitefeed

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/ingest/mapping"
	"github.com/referralops/referralops/internal/generator"
)

func genConfig() generator.Config {
	cfg := generator.DefaultConfig()
	cfg.Seed, cfg.Referrals, cfg.Days = 7, 600, 20
	cfg.End = time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	cfg.Now = cfg.End.Add(48 * time.Hour)
	cfg.DuplicateRatio, cfg.InvalidRatio, cfg.Shuffle, cfg.BinaryRatio = 0.05, 0.02, true, 0.2
	return cfg
}

// fact is what the KPIs read of one event, with the contract's defaults
// filled in: the referral, type and time, and the fields both paths carry.
func fact(e event.Event) string {
	d := e.Data
	f := fmt.Sprintf("%s %s %s", e.Subject, e.Type, e.Time.UTC().Format(time.RFC3339))
	switch e.Type {
	case event.ReferralCreated:
		prio, pay := d.Priority, d.PayerClass
		if prio == "" {
			prio = "routine"
		}
		if pay == "" {
			pay = "unknown"
		}
		f += fmt.Sprintf(" ref=%s/%s type=%s net=%s line=%s loc=%s dest=%s prio=%s pay=%s",
			d.ReferrerID, d.ReferrerOrgID, d.ReferrerType, d.ReferrerNetwork, d.ServiceLine, d.LocationID, d.DestinationNetwork, prio, pay)
	case event.ReferralRedirected:
		f += " dest=" + d.DestinationNetwork + "/" + d.DestinationOrgID
	case event.AppointmentBooked:
		f += fmt.Sprintf(" appt=%s at=%s loc=%s visit=%s", d.AppointmentID, d.ScheduledFor.Format(time.RFC3339), d.LocationID, d.VisitType)
	case event.AppointmentRescheduled:
		f += fmt.Sprintf(" appt=%s at=%s", d.AppointmentID, d.ScheduledFor.Format(time.RFC3339))
	case event.AppointmentCancelled, event.AppointmentNoShow, event.AppointmentCompleted:
		f += " appt=" + d.AppointmentID
	case event.ConsultNoteSent:
		f += " to=" + recipient(e)
	}
	return f
}

// recipient is a consult note's recipient with the contract's default.
func recipient(e event.Event) string {
	if e.Data.Recipient == "" {
		return "referrer"
	}
	return e.Data.Recipient
}

// TestFormatsSameNetwork: every HL7 v2 and FHIR message the feed writes maps,
// through ingest/mapping with the example site config and the network's
// provider directory (SiteConfig), to events whose facts
// (per referral the types, times and the fields the KPIs group by, a consult
// note's recipient included) equal the
// CloudEvents generator's for the same seed; duplicates deduplicate by the
// mapped event id; the invalid messages stay as generated; each referral's
// patient maps to one patient token; the fake PHI of a new referral is in
// the message and in none of the events.
func TestFormatsSameNetwork(t *testing.T) {
	cfg := genConfig()
	var msgs []generator.Message
	if _, err := generator.Generate(context.Background(), cfg, func(m generator.Message) error {
		m.Value = bytes.Clone(m.Value)
		msgs = append(msgs, m)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	dec := event.NewDecoder(event.DefaultConfig()).WithClock(func() time.Time { return cfg.Now })
	var want []string
	seen := map[string]bool{}
	invalid := 0
	for _, m := range msgs {
		if m.Invalid != "" {
			invalid++
			continue
		}
		e, err := dec.Decode(m.Value, m.Headers)
		if err != nil {
			t.Fatalf("generated event does not decode: %v", err)
		}
		if !seen[e.ID] {
			seen[e.ID] = true
			want = append(want, fact(e))
		}
	}
	slices.Sort(want)

	site, err := mapping.LoadConfig(filepath.Join("..", "..", "docs", "examples", "site-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// SiteConfig alone must type the feed's consult note recipients.
	site.Terminology.Recipient = nil
	mapper, err := mapping.New(SiteConfig(site, generator.Providers(cfg)), []byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []mapping.Format{mapping.FormatHL7v2, mapping.FormatFHIR} {
		t.Run(string(f), func(t *testing.T) {
			feed := New(f)
			var got []string
			seen := map[string]bool{}
			standard, passed := map[event.Type]int{}, 0
			recipients := map[string]int{} // of the consult notes the format carried
			tokens := map[string]string{}  // generator's patient token → mapped token
			for _, m := range msgs {
				r := feed.Convert(m)
				if !r.Standard {
					if m.Invalid != "" {
						passed++
						if !bytes.Equal(r.Value, m.Value) {
							t.Fatal("an invalid message was changed")
						}
						continue
					}
					e, err := dec.Decode(r.Value, r.Headers)
					if err != nil {
						t.Fatal(err)
					}
					if Carries(f, e.Type) && (e.Type != event.ReferralCreated || e.Data.PatientToken != "") {
						t.Fatalf("%s left as a CloudEvent although %s carries it", e.Type, f)
					}
					if !seen[e.ID] {
						seen[e.ID] = true
						got = append(got, fact(e))
					}
					continue
				}
				o := mapper.Map(f, r.Value)
				if o.Err != nil || o.Skipped != "" || len(o.Events) != 1 {
					t.Fatalf("%s message for %s: %s\n%s", f, m.Type, o.Line(), r.Value)
				}
				e := o.Events[0]
				p := feed.patient(e.Subject)
				birth := p.birth.Format("20060102") // HL7 DT
				if f == mapping.FormatFHIR {
					birth = p.birth.Format("2006-01-02")
				}
				for _, phi := range []string{p.mrn, p.family, p.given, p.phone, p.street, birth} {
					if !bytes.Contains(r.Value, []byte(phi)) && e.Type == event.ReferralCreated {
						t.Fatalf("the %s referral carries no %q: the fake PHI is not where real PHI goes", f, phi)
					}
					if bytes.Contains(o.Encoded[0], []byte(phi)) {
						t.Fatalf("fake PHI %q reached the event %s", phi, o.Encoded[0])
					}
				}
				if e.Type != m.Type {
					t.Fatalf("%s message for %s maps to %s", f, m.Type, e.Type)
				}
				if e.Type == event.ReferralCreated {
					orig, _ := dec.Decode(m.Value, m.Headers)
					if prev, ok := tokens[orig.Data.PatientToken]; ok && prev != e.Data.PatientToken {
						t.Fatalf("one patient, two tokens: %s, %s", prev, e.Data.PatientToken)
					}
					tokens[orig.Data.PatientToken] = e.Data.PatientToken
				}
				if !seen[e.ID] {
					seen[e.ID] = true
					got = append(got, fact(e))
					standard[e.Type]++
					if e.Type == event.ConsultNoteSent {
						recipients[recipient(e)]++
					}
				}
			}
			slices.Sort(got)
			if passed != invalid {
				t.Errorf("%d invalid messages passed through, want %d", passed, invalid)
			}
			if len(standard) < 8 {
				t.Errorf("the %s feed carried only %v", f, standard)
			}
			if len(recipients) != 3 {
				t.Errorf("the %s consult notes went to %v: not every recipient was carried", f, recipients)
			}
			if !slices.Equal(got, want) {
				for i := range min(len(got), len(want)) {
					if got[i] != want[i] {
						t.Fatalf("%d facts, want %d; first difference:\n got %s\nwant %s", len(got), len(want), got[i], want[i])
					}
				}
				t.Fatalf("%d facts, want %d", len(got), len(want))
			}
		})
	}
}
