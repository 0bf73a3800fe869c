package mapping

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/ingest/hl7v2"
)

// SkipReason says why a message carries no referral work. It is a metric
// label, so the set is closed (SkipReasons).
type SkipReason string

// The skip reasons.
const (
	SkipUnsupportedType SkipReason = "unsupported_type" // a message type or resource the mapping does not read
	SkipNoReferralLink  SkipReason = "no_referral_link" // scheduling, note or claim that links to no referral
	SkipNotReferral     SkipReason = "not_referral"     // an order or ServiceRequest that is not a referral
	SkipNoEvent         SkipReason = "no_event"         // a status that is no event of the contract (pending, pended review, ...)
)

// SkipReasons returns the skip reasons in a stable order.
func SkipReasons() []SkipReason {
	return []SkipReason{SkipUnsupportedType, SkipNoReferralLink, SkipNotReferral, SkipNoEvent}
}

// Outcome is what one input message becomes: events (Encoded[i] is Events[i]
// as a structured CloudEvent), a skip, or a dead letter (Err).
type Outcome struct {
	Events  []event.Event
	Encoded [][]byte
	Skipped SkipReason
	Err     *event.Error
}

// Mapper maps messages of one site. It is safe for concurrent use.
type Mapper struct {
	cfg  Config
	loc  *time.Location
	key  []byte
	link struct{ scheduling, note, visit, visitAppointment []hl7v2.Path }
}

// New returns a Mapper for a valid cfg and the patient token key.
func New(cfg Config, key []byte) (*Mapper, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(key) < minKeyBytes {
		return nil, fmt.Errorf("patient token key must be at least %d bytes", minKeyBytes)
	}
	loc, _ := time.LoadLocation(cfg.TimeZone) // Validate loaded it
	m := &Mapper{cfg: cfg, loc: loc, key: key}
	m.link.scheduling = mustPaths(cfg.Links.Scheduling)
	m.link.note = mustPaths(cfg.Links.Note)
	m.link.visit = mustPaths(cfg.Links.Visit)
	m.link.visitAppointment = mustPaths(cfg.Links.VisitAppointment)
	return m, nil
}

// patientToken is PatientToken under the mapper's key.
func (m *Mapper) patientToken(authority, mrn string) string {
	return PatientToken(m.key, authority, mrn)
}

// PatientToken is the keyed HMAC-SHA256 of (assigning authority, MRN), the
// patient_token every input of one site must agree on (STANDARDS.md); ""
// without an MRN. The separator keeps ("AB","C") and ("A","BC") apart.
func PatientToken(key []byte, authority, mrn string) string {
	if mrn == "" {
		return ""
	}
	h := hmac.New(sha256.New, key)
	h.Write([]byte(authority))
	h.Write([]byte{0})
	h.Write([]byte(mrn))
	return hex.EncodeToString(h.Sum(nil))
}

// eventID derives a deterministic id from the parts that identify one
// message (or resource version) and the event type.
func eventID(prefix string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(strconv.Itoa(len(p))))
		h.Write([]byte{':'})
		h.Write([]byte(p))
	}
	return prefix + hex.EncodeToString(h.Sum(nil)[:16])
}

// finish validates the events with the contract's encoder and returns the
// outcome; an event the contract refuses dead-letters the message.
func finish(evs []event.Event) Outcome {
	o := Outcome{Events: evs}
	for _, ev := range evs {
		b, err := event.Encode(ev)
		if err != nil {
			var e *event.Error
			if !errors.As(err, &e) { // Encode returns only *event.Error
				e = &event.Error{Reason: event.ReasonInvalidField, Detail: "the contract refused the event"}
			}
			return Outcome{Err: e}
		}
		o.Encoded = append(o.Encoded, b)
	}
	return o
}

func dead(e *event.Error) Outcome { return Outcome{Err: e} }

// tooLarge refuses a message over the contract's default size limit before
// parsing it, as the CloudEvents decoder does.
func tooLarge(b []byte) (Outcome, bool) {
	if len(b) <= event.DefaultMaxMessageBytes {
		return Outcome{}, false
	}
	return dead(&event.Error{Reason: event.ReasonTooLarge, Detail: "longer than " + strconv.Itoa(event.DefaultMaxMessageBytes) + " bytes"}), true
}

func skip(r SkipReason) Outcome { return Outcome{Skipped: r} }

func missing(where string) *event.Error {
	return &event.Error{Reason: event.ReasonMissingField, Field: where, Detail: "required"}
}

func badTime(where string, err error) *event.Error {
	return &event.Error{Reason: event.ReasonBadTime, Field: where, Detail: err.Error()}
}

// key is one candidate code for a terminology lookup. show is false for
// identifiers of individuals (a provider's NPI), which errors must not name.
type key struct {
	code, where string
	show        bool
}

// lookup returns the value of the first candidate code the table has
// (exactly or by a prefix pattern such as "MG-*"), else its "*" default. required: no value is an unmapped_code error naming the
// table and the codes; optional: "" and no error.
func lookup(table string, codes map[string]string, required bool, keys ...key) (string, *event.Error) {
	for _, k := range keys {
		if k.code == "" {
			continue
		}
		if v, ok := match(codes, k.code); ok {
			return v, nil
		}
	}
	if v, ok := codes["*"]; ok {
		return v, nil
	}
	if !required {
		return "", nil
	}
	var tried []string
	field := ""
	for _, k := range keys {
		if k.code == "" {
			continue
		}
		if field == "" {
			field = k.where
		}
		switch {
		case k.show && k.where == field:
			tried = append(tried, quoteCode(k.code))
		case k.show:
			tried = append(tried, quoteCode(k.code)+" ("+k.where+")")
		default:
			tried = append(tried, "the value of "+k.where)
		}
	}
	if len(tried) == 0 {
		where := make([]string, len(keys))
		for i, k := range keys {
			where[i] = k.where
		}
		return "", &event.Error{Reason: event.ReasonMissingField, Field: strings.Join(where, " or "), Detail: "required for the " + table + " table"}
	}
	return "", &event.Error{Reason: event.ReasonUnmappedCode, Field: field,
		Detail: "table " + table + " has no entry for " + strings.Join(tried, " or ")}
}

// referrerType is the type of the referring provider id: from the provider
// directory, else by the organisation table (organisation, then the
// provider id, as before the directory existed). The provider id is never
// named in an error: it identifies an individual.
func (m *Mapper) referrerType(id, idWhere, org, orgWhere string) (string, *event.Error) {
	if id != "" {
		if v, ok := match(m.cfg.Terminology.ReferrerTypeByProvider, id); ok {
			return v, nil
		}
	}
	return lookup("referrer_type", m.cfg.Terminology.ReferrerType, true, key{org, orgWhere, true}, key{id, idWhere, false})
}

// match finds code in a table: exactly, else by the longest prefix pattern
// ("MG-*"). The lone "*" is the caller's last resort, not a prefix.
func match(codes map[string]string, code string) (string, bool) {
	if v, ok := codes[code]; ok {
		return v, true
	}
	best, found := "", false
	bestLen := 0
	for k, v := range codes {
		if len(k) > 1 && k[len(k)-1] == '*' && strings.HasPrefix(code, k[:len(k)-1]) && len(k) > bestLen {
			best, bestLen, found = v, len(k), true
		}
	}
	return best, found
}

// fhirTime parses FHIR date/dateTime/instant: RFC 3339 with offset, or a
// date (YYYY-MM-DD) or local date-time without offset in the site's zone.
func (m *Mapper) fhirTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		var t time.Time
		var err error
		if layout == time.RFC3339Nano {
			t, err = time.Parse(layout, s)
		} else {
			t, err = time.ParseInLocation(layout, s, m.loc)
		}
		if err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("not a FHIR dateTime with at least a date (YYYY-MM-DD[Thh:mm:ss[.s][Z|+hh:mm]])")
}
