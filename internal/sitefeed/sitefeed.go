// Package sitefeed renders the generator's simulated referral network as a
// hospital's interface feeds: HL7 v2 ER7 messages or FHIR R4 resources, with
// fake PHI where real ones carry it and the referral links of
// docs/examples/site-config.yaml. It is what `referralops generate --format`
// writes.
//
// It converts the generator's CloudEvents one by one, so a seed gives the same
// referrals and timings in every format. Events a format has no standard
// message for stay CloudEvents on their usual topics, as a real site mixes
// feeds (docs/standards.md lists which); so do the invalid messages, which
// exercise the CloudEvents dead-letter path.
package sitefeed

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/ingest/mapping"
	"github.com/referralops/referralops/internal/generator"
)

// Record is one Kafka record of the mixed feed.
type Record struct {
	// Standard: the record goes to the format's topic (hl7v2 or fhir);
	// otherwise it is a CloudEvent for Stream's topic.
	Standard bool
	Stream   event.Stream
	Key      []byte
	Value    []byte
	Headers  []event.Header
}

// Feed converts generated messages into one format's feed. A Feed is not safe
// for concurrent use: it remembers each referral's patient and referrer so
// that every message about the referral names the same (fake) person and
// provider, about 150 bytes per referral.
type Feed struct {
	format    mapping.Format
	loc       *time.Location
	dec       *event.Decoder
	patients  map[string]string // referral id → the patient token of its referral.created
	referrers map[string]string // referral id → its referrer's id
}

// siteZone is the time zone of the simulated hospital's systems, the
// example site config's time_zone. Times carry their offset, so a site
// configured with another zone still reads them right.
const siteZone = "America/Chicago"

// New returns a Feed writing format f (mapping.FormatHL7v2 or FormatFHIR).
func New(f mapping.Format) *Feed {
	loc, err := time.LoadLocation(siteZone)
	if err != nil {
		loc = time.UTC // no tzdata: the offsets keep the times exact
	}
	// Generated events may lie ahead of the wall clock (a run ending in the
	// future): the future_time check is the ingester's, not the feed's.
	farFuture := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	dec := event.NewDecoder(event.DefaultConfig()).WithClock(func() time.Time { return farFuture })
	return &Feed{format: f, loc: loc, dec: dec, patients: map[string]string{}, referrers: map[string]string{}}
}

// Convert turns one generated message into its record: the format's message
// for an event the format carries, else the CloudEvent as generated.
// Duplicates render to the same bytes, so they deduplicate like the original.
func (fd *Feed) Convert(m generator.Message) Record {
	asIs := Record{Stream: m.Stream, Key: m.Key, Value: m.Value, Headers: m.Headers}
	if m.Invalid != "" {
		return asIs
	}
	e, err := fd.dec.Decode(m.Value, m.Headers)
	if err != nil {
		return asIs // cannot happen for a valid generated event; keep it as it is
	}
	if e.Type == event.ReferralCreated {
		fd.referrers[e.Subject] = e.Data.ReferrerID
		if e.Data.PatientToken == "" {
			// No patient identity: an HL7 or FHIR referral always names its
			// patient (PID-3, Patient.identifier), so this one stays a CloudEvent.
			return asIs
		}
		fd.patients[e.Subject] = e.Data.PatientToken
	}
	p := fd.patient(e.Subject)
	var v []byte
	var ok bool
	if fd.format == mapping.FormatHL7v2 {
		v, ok = fd.hl7v2(e, p)
	} else {
		v, ok = fd.fhir(e, p)
	}
	if !ok {
		return asIs
	}
	return Record{Standard: true, Stream: m.Stream, Key: m.Key, Value: v,
		Headers: []event.Header{{Key: "content-type", Value: []byte(fd.format.ContentType())}}}
}

// Carries reports whether format f carries events of type t in its own
// messages (the others travel as CloudEvents beside the feed).
func Carries(f mapping.Format, t event.Type) bool {
	switch t {
	case event.ReferralCreated, event.ReferralAccepted, event.ReferralRejected, event.ReferralCancelled,
		event.AppointmentBooked, event.AppointmentCancelled, event.AppointmentNoShow, event.AppointmentCompleted,
		event.ConsultNoteSent:
		return true
	case event.ReferralRedirected, event.AppointmentRescheduled:
		return f == mapping.FormatHL7v2 // FHIR has no redirect message, and every Appointment version is "booked"
	case event.ReferrerUpdateSent:
		return f == mapping.FormatFHIR
	}
	return false
}

// controlID is a message's unique id (HL7 MSH-10, FHIR versionId): derived
// from the event id, so a redelivered event keeps it.
func controlID(e event.Event) string {
	h := sha256.Sum256([]byte(e.ID))
	return hex.EncodeToString(h[:10])
}

// SiteConfig is base (a site config that maps the feed's codes, such as
// docs/examples/site-config.yaml) with the simulated network's provider
// directory (generator.Providers, Stream.Providers) added to its
// referrer_type_by_provider, and the role codes of the feed's consult note
// recipients to its recipient table: the feed's referrals and notes then map
// to the referrer types and recipients their CloudEvents have. The
// network's entries win over base's: they are the simulation's truth.
func SiteConfig(base mapping.Config, providers map[string]string) mapping.Config {
	dir := make(map[string]string, len(providers)+len(base.Terminology.ReferrerTypeByProvider))
	for id, typ := range base.Terminology.ReferrerTypeByProvider {
		dir[id] = typ
	}
	for id, typ := range providers {
		dir[id] = typ
	}
	base.Terminology.ReferrerTypeByProvider = dir
	to := make(map[string]string, len(recipientRoles)+len(base.Terminology.Recipient))
	for code, v := range base.Terminology.Recipient {
		to[code] = v
	}
	for v, role := range recipientRoles {
		to[role.code] = v
	}
	base.Terminology.Recipient = to
	return base
}
