package generator

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/referralops/referralops/ingest/event"
)

// invalidReasons is the round-robin order of invalid messages: every reason
// gets an even share, and consecutive runs of eight cover them all.
var invalidReasons = [...]event.Reason{
	event.ReasonNotJSON, event.ReasonNotCloudEvent, event.ReasonMissingField, event.ReasonUnknownType,
	event.ReasonInvalidField, event.ReasonBadTime, event.ReasonFutureTime, event.ReasonTooLarge,
}

const (
	// binaryInvalidEvery: one in this many invalid messages of each reason is
	// in binary mode, when the run uses binary mode at all.
	binaryInvalidEvery = 4
	// futureSkew puts future_time messages well past the decoder's 24 h skew.
	futureSkew = 72 * time.Hour
)

// invalidMaker crafts messages that break the contract in one known way each,
// looking like what real producers get wrong: faxed PDFs and HL7 v2 on the
// wrong topic, truncated JSON, old CloudEvents versions, missing or misspelled
// fields, local times, clocks set in the future, attachments inlined.
type invalidMaker struct {
	key        uint64
	n          int // invalid messages made so far
	start, end int64
	future     time.Time
	maxBytes   int
	binary     bool
	tooLarge   [3][]byte // structured too_large values by stream, shared: they are big
	tooLargeB  [3]binaryParts
}

type binaryParts struct {
	value   []byte
	headers []event.Header
}

func newInvalidMaker(cfg Config) *invalidMaker {
	end := cfg.End.Unix()
	return &invalidMaker{
		key:      seedKey(cfg.Seed, streamInvalid),
		start:    end - int64(cfg.Days)*day,
		end:      end,
		future:   cfg.now().Add(futureSkew).UTC().Truncate(time.Second),
		maxBytes: cfg.maxMessageBytes(),
		binary:   cfg.BinaryRatio > 0,
	}
}

// next returns the next invalid message; key is the key of the valid message
// before it, so invalid messages land on real referrals' partitions.
func (im *invalidMaker) next(r *rand.Rand, key []byte) Message {
	n := im.n
	im.n++
	reason := invalidReasons[n%len(invalidReasons)]
	round := n / len(invalidReasons)
	// Rotating the stream by round and reason puts every reason on every stream.
	stream := event.Stream((round + n%len(invalidReasons)) % 3)
	binary := im.binary && round%binaryInvalidEvery == binaryInvalidEvery-1
	variant := round // which of the reason's ways to fail: the next structured one
	if im.binary {
		variant -= (round + 1) / binaryInvalidEvery
	}

	e := im.baseEvent(r, stream, key)
	m := Message{Stream: stream, Key: key, Invalid: reason}
	if binary {
		m.Value, m.Headers = im.binaryInvalid(reason, stream, e)
	} else {
		m.Value = im.structuredInvalid(reason, variant, stream, e)
	}
	return m
}

// baseEvent is a valid event of the stream, which the variants then break.
func (im *invalidMaker) baseEvent(r *rand.Rand, stream event.Stream, key []byte) event.Event {
	n := uint64(im.n)
	var id [36]byte
	t := time.Unix(between(r, im.start+1, im.end+1), 0).UTC()
	subject := string(key)
	if subject == "" {
		subject = "R-00000001"
	}
	e := event.Event{
		ID:      string(appendUUID(id[:0], mix64(n^im.key), mix64(n^^im.key))),
		Time:    t,
		Subject: subject,
	}
	switch stream {
	case event.StreamReferral:
		e.Type, e.Source = event.ReferralCreated, srcFax
		e.Data = event.Data{
			ReferrerID: "1234567893", ReferrerType: "primary_care", ReferrerNetwork: "in",
			ServiceLine: "cardiology", LocationID: "site-01", DestinationNetwork: "in", Channel: "fax",
		}
	case event.StreamScheduling:
		e.Type, e.Source = event.AppointmentBooked, srcSched
		e.Data = event.Data{
			AppointmentID: "A-" + subject[min(2, len(subject)):] + "-9",
			ScheduledFor:  t.Add(14 * 24 * time.Hour).Truncate(15 * time.Minute),
			LocationID:    "site-01", VisitType: "new_patient",
		}
	default:
		e.Type, e.Source = event.PatientOutreach, srcOutreach
		e.Data = event.Data{Outcome: "voicemail"}
	}
	return e
}

// structuredInvalid breaks a structured-mode event for reason; variant picks
// one of the reason's several ways to fail.
func (im *invalidMaker) structuredInvalid(reason event.Reason, variant int, stream event.Stream, e event.Event) []byte {
	valid := event.AppendEncode(nil, e)
	switch reason {
	case event.ReasonNotJSON:
		switch variant % 4 {
		case 0: // a faxed document on the wrong topic
			return []byte("%PDF-1.4 %\xe2\xe3\xcf\xd3 1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj")
		case 1: // cut off mid-message
			return valid[:len(valid)/2]
		case 2: // HL7 v2 (one segment: a newline or CR would split NDJSON lines)
			return []byte(`MSH|^~\&|EPIC|HOSP|REFERRALS|HOSP|20260301120000||REF^I12|MSG00001|P|2.5.1`)
		default: // invalid UTF-8 inside a string
			return replaceOnce(valid, `"source":"`, "\"source\":\"fax\xff")
		}
	case event.ReasonNotCloudEvent:
		switch variant % 4 {
		case 0: // CloudEvents 0.3
			return replaceOnce(valid, `"specversion":"1.0"`, `"specversion":"0.3"`)
		case 1: // no specversion at all: a plain JSON payload
			return replaceOnce(valid, `"specversion":"1.0",`, ``)
		case 2: // a batch instead of an event
			return append(append([]byte("["), valid...), ']')
		default:
			return []byte(`"` + string(e.Type) + `"`)
		}
	case event.ReasonMissingField:
		switch variant % 3 {
		case 0:
			return dropAttr(valid, "subject")
		case 1:
			return dropAttr(valid, "id")
		default: // a required data field (or, for outreach, the time)
			switch stream {
			case event.StreamReferral:
				return replaceOnce(valid, `"referrer_id":"1234567893",`, ``)
			case event.StreamScheduling:
				return dropData(valid, "appointment_id")
			}
			return dropAttr(valid, "time")
		}
	case event.ReasonUnknownType:
		unknown := [3]string{"referral.teleported", "appointment.rebooked", "communication.carrier_pigeon"}[stream]
		return replaceOnce(valid, `"type":"`+string(e.Type)+`"`, `"type":"`+unknown+`"`)
	case event.ReasonInvalidField:
		switch variant % 3 {
		case 0: // an identifier with characters outside the contract's set
			return replaceOnce(valid, `"subject":"`+e.Subject+`"`, `"subject":"`+e.Subject+` #2"`)
		case 1: // an enum value outside its set
			switch stream {
			case event.StreamReferral:
				return replaceOnce(valid, `"service_line":"cardiology"`, `"service_line":"astrology"`)
			case event.StreamScheduling:
				return replaceOnce(valid, `"appointment_id":"`, `"appointment_id":"slot #`)
			}
			return replaceOnce(valid, `"outcome":"voicemail"`, `"outcome":"left_message"`)
		default: // the wrong JSON type
			return replaceOnce(valid, `"source":"`+e.Source+`"`, `"source":42`)
		}
	case event.ReasonBadTime:
		local := e.Time.Format("2006-01-02T15:04:05")
		switch variant % 3 {
		case 0: // local time without an offset
			return replaceTime(valid, e.Time, local)
		case 1: // a date that does not exist
			return replaceTime(valid, e.Time, "2026-02-30T10:00:00Z")
		default:
			return replaceTime(valid, e.Time, e.Time.Format("02/01/2006 15:04"))
		}
	case event.ReasonFutureTime:
		return replaceTime(valid, e.Time, im.future.Format(time.RFC3339))
	case event.ReasonTooLarge:
		if im.tooLarge[stream] == nil {
			im.tooLarge[stream] = pad(valid, im.maxBytes+1)
		}
		return im.tooLarge[stream]
	}
	panic("generator: unknown reason " + string(reason))
}

// binaryInvalid breaks a binary-mode event for reason.
func (im *invalidMaker) binaryInvalid(reason event.Reason, stream event.Stream, e event.Event) ([]byte, []event.Header) {
	value, headers := event.EncodeBinary(e)
	switch reason {
	case event.ReasonNotJSON:
		value = []byte("%PDF-1.4 %\xe2\xe3\xcf\xd3 scanned referral, 3 pages")
	case event.ReasonNotCloudEvent:
		headers = setHeader(headers, "ce_specversion", "0.3")
	case event.ReasonMissingField:
		headers = dropHeader(headers, "ce_subject")
	case event.ReasonUnknownType:
		headers = setHeader(headers, "ce_type", "referral.teleported")
	case event.ReasonInvalidField:
		headers = setHeader(headers, "ce_subject", e.Subject+" #2")
	case event.ReasonBadTime:
		headers = setHeader(headers, "ce_time", e.Time.Format("2006-01-02 15:04:05"))
	case event.ReasonFutureTime:
		headers = setHeader(headers, "ce_time", im.future.Format(time.RFC3339))
	case event.ReasonTooLarge:
		if im.tooLargeB[stream].value == nil {
			im.tooLargeB[stream] = binaryParts{pad(value, im.maxBytes+1), headers}
		}
		return im.tooLargeB[stream].value, im.tooLargeB[stream].headers
	}
	return value, headers
}

func replaceOnce(b []byte, old, new string) []byte {
	i := bytes.Index(b, []byte(old))
	if i < 0 {
		panic("generator: invalid message template: no " + strconv.Quote(old) + " in " + string(b))
	}
	out := make([]byte, 0, len(b)+len(new)-len(old))
	out = append(out, b[:i]...)
	out = append(out, new...)
	return append(out, b[i+len(old):]...)
}

func replaceTime(b []byte, t time.Time, s string) []byte {
	return replaceOnce(b, `"time":"`+t.Format(time.RFC3339)+`"`, `"time":"`+s+`"`)
}

// dropAttr removes `"name":"...",` (a string attribute) from an encoded event.
func dropAttr(b []byte, name string) []byte {
	return dropString(b, `"`+name+`":"`)
}

func dropData(b []byte, name string) []byte {
	return dropString(b, `"`+name+`":"`)
}

// dropString removes the first string member starting with prefix, and the
// comma that follows it (or precedes it, for the last member).
func dropString(b []byte, prefix string) []byte {
	i := bytes.Index(b, []byte(prefix))
	if i < 0 {
		panic("generator: invalid message template: no " + prefix + " in " + string(b))
	}
	j := i + len(prefix) + bytes.IndexByte(b[i+len(prefix):], '"') + 1
	switch {
	case j < len(b) && b[j] == ',':
		j++
	case i > 0 && b[i-1] == ',':
		i--
	}
	return append(append([]byte(nil), b[:i]...), b[j:]...)
}

// pad grows a JSON object to exactly size bytes with an inline attachment, an
// unknown member the decoder would ignore if the message were not too large.
func pad(obj []byte, size int) []byte {
	const head = `,"attachment":"`
	fill := size - len(obj) - len(head) - 1 // the closing quote
	if fill < 0 {
		fill = 0
	}
	out := make([]byte, 0, size)
	out = append(out, obj[:len(obj)-1]...) // without the closing brace
	if len(obj) == 2 {                     // {}: no member to follow
		out = append(out, head[1:]...)
		fill++
	} else {
		out = append(out, head...)
	}
	for range fill {
		out = append(out, 'A')
	}
	out = append(out, '"', '}')
	return out[:min(len(out), size)]
}

func setHeader(hs []event.Header, key, value string) []event.Header {
	out := make([]event.Header, 0, len(hs)+1)
	found := false
	for _, h := range hs {
		if h.Key == key {
			h.Value, found = []byte(value), true
		}
		out = append(out, h)
	}
	if !found {
		out = append(out, event.Header{Key: key, Value: []byte(value)})
	}
	return out
}

func dropHeader(hs []event.Header, key string) []event.Header {
	out := make([]event.Header, 0, len(hs))
	for _, h := range hs {
		if h.Key != key {
			out = append(out, h)
		}
	}
	return out
}
