package event

import (
	"errors"
	"strconv"
	"unicode/utf8"
)

// Reason is the machine-readable dead-letter reason of a message that breaks
// the contract. It is the value of the dead-letter header and of the `reason`
// label of the dead-letter counter, so the set is closed and stable.
type Reason string

// The dead-letter reasons, in the order Decode checks them.
const (
	ReasonTooLarge      Reason = "too_large"      // value longer than Config.MaxMessageBytes
	ReasonNotJSON       Reason = "not_json"       // value is not valid UTF-8 JSON
	ReasonNotCloudEvent Reason = "not_cloudevent" // not an object, or specversion missing or not "1.0"
	ReasonMissingField  Reason = "missing_field"  // a required attribute or data field is absent or null
	ReasonUnknownType   Reason = "unknown_type"   // `type` is not one of Types()
	ReasonInvalidField  Reason = "invalid_field"  // wrong JSON type, enum value outside its set, bad identifier, too long
	ReasonBadTime       Reason = "bad_time"       // a time that is not RFC 3339 with offset, or outside 1970..2106
	ReasonFutureTime    Reason = "future_time"    // `time` later than now + Config.MaxFutureSkew
)

// The dead-letter reasons only the standard-input adapters give (package
// mapping, STANDARDS.md); the other reasons apply to them too where they fit.
const (
	ReasonNotHL7v2     Reason = "not_hl7v2"     // not an HL7 v2 ER7 message
	ReasonNotFHIR      Reason = "not_fhir"      // not a FHIR R4 JSON resource or Bundle
	ReasonUnmappedCode Reason = "unmapped_code" // a required value whose code the site's terminology table lacks
)

// ReasonInternalError is the ingester's reason, never Decode's: the decoder
// panicked on the record. The record is dead-lettered so that its partition
// moves on instead of crash-looping on its offset.
const ReasonInternalError Reason = "internal_error"

// Reasons returns the dead-letter reasons of Decode (the CloudEvents input) in
// a stable order (the order of the contract's list), e.g. to pre-create metric
// series. With StandardReasons they are the closed set.
func Reasons() []Reason {
	return []Reason{
		ReasonNotJSON, ReasonNotCloudEvent, ReasonMissingField, ReasonUnknownType,
		ReasonInvalidField, ReasonBadTime, ReasonFutureTime, ReasonTooLarge,
	}
}

// StandardReasons returns the reasons only the HL7 v2 and FHIR adapters give.
func StandardReasons() []Reason {
	return []Reason{ReasonNotHL7v2, ReasonNotFHIR, ReasonUnmappedCode}
}

// Error is why a message breaks the contract. Decode returns only *Error.
//
// The message never contains identifier values, free text or times (they may be
// PHI, and errors end up in logs); enum-like values (type, specversion, enum
// fields) are quoted, cut to 32 bytes.
type Error struct {
	Reason Reason // the dead-letter reason
	Field  string // the attribute ("id", "time") or data field ("data.referrer_id"); "" for the whole message
	Detail string // what is wrong, for humans
}

// Error formats as `reason: field: detail`, e.g.
// `invalid_field: data.priority: "asap" is not one of routine, urgent, stat`.
func (e *Error) Error() string {
	s := string(e.Reason)
	if e.Field != "" {
		s += ": " + e.Field
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// ReasonOf returns the dead-letter reason of err, or "" if err is not (and does
// not wrap) an *Error.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// maxQuoted is how much of an offending enum-like value an error message shows.
const maxQuoted = 32

// quote returns b as a Go-quoted string for an error message, cut to maxQuoted
// bytes at a rune boundary. Only for values that cannot be PHI (enum-like).
func quote(b []byte) string {
	if len(b) > maxQuoted {
		n := maxQuoted
		for n > 0 && !utf8.RuneStart(b[n]) {
			n--
		}
		return strconv.Quote(string(b[:n])) + "..."
	}
	return strconv.Quote(string(b))
}
