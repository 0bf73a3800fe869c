package event

import (
	"math"
	"time"
	"unicode/utf8"
)

// Encode returns e as a structured-mode CloudEvent: specversion "1.0",
// datacontenttype application/json, times in RFC 3339 UTC, data fields that
// are zero left out. Unlike AppendEncode it checks that the result is a valid
// event of the contract (returning the same *Error Decode would), except for
// what depends on the consumer's Config and clock: the service line need only
// be a well-formed name, the time may lie in the future, the size is not
// limited.
func Encode(e Event) ([]byte, error) {
	b := AppendEncode(make([]byte, 0, envelopeSize(&e)), e)
	var ev Event
	st := decodeState{}
	if err := st.scanStructured(b); err != nil {
		return nil, err // only if AppendEncode is broken
	}
	if err := encodeChecker.validate(&st, &ev); err != nil {
		return nil, err
	}
	return b, nil
}

// encodeChecker is Encode's Decoder: no site service lines, no clock.
var encodeChecker = &Decoder{maxBytes: math.MaxInt, maxSkew: -1, now: time.Now}

// envelopeSize estimates the structured encoding's size, to allocate once.
func envelopeSize(e *Event) int {
	return len(`{"specversion":"1.0","id":"","source":"","type":"","time":"2006-01-02T15:04:05.999999999Z","subject":"","datacontenttype":"application/json","data":}`) +
		len(e.ID) + len(e.Source) + len(e.Type) + len(e.Subject) + dataSize(&e.Data)
}

// AppendEncode appends e to dst as Encode does, without checking it (so it
// also serves to write deliberately broken events), and returns the extended
// buffer. It allocates only if dst must grow.
//
// Every non-zero Data field is written, including ones e's type does not
// carry (Decode ignores those).
func AppendEncode(dst []byte, e Event) []byte {
	dst = append(dst, `{"specversion":"1.0","id":`...)
	dst = appendString(dst, e.ID)
	dst = append(dst, `,"source":`...)
	dst = appendString(dst, e.Source)
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, string(e.Type))
	dst = append(dst, `,"time":`...)
	dst = appendTime(dst, e.Time)
	dst = append(dst, `,"subject":`...)
	dst = appendString(dst, e.Subject)
	dst = append(dst, `,"datacontenttype":"application/json","data":`...)
	dst = appendData(dst, &e.Data)
	return append(dst, '}')
}

// EncodeBinary returns e in binary mode: the data object as value (`{}` if
// e has no data), and the attributes as headers ce_specversion, ce_id,
// ce_type, ce_source, ce_time, ce_subject and content-type. Like AppendEncode
// it does not check e. The header values share one allocation.
func EncodeBinary(e Event) (value []byte, headers []Header) {
	value = appendData(make([]byte, 0, dataSize(&e.Data)), &e.Data)

	// All header values share one buffer. Each is capped at its own end, so
	// appending to one value cannot overwrite the next.
	const maxTime = len("2006-01-02T15:04:05.999999999Z")
	buf := make([]byte, 0, len("1.0")+len(e.ID)+len(e.Type)+len(e.Source)+maxTime+len(e.Subject)+len("application/json"))
	var ends [7]int
	buf = append(buf, "1.0"...)
	ends[0] = len(buf)
	buf = append(buf, e.ID...)
	ends[1] = len(buf)
	buf = append(buf, e.Type...)
	ends[2] = len(buf)
	buf = append(buf, e.Source...)
	ends[3] = len(buf)
	buf = e.Time.UTC().AppendFormat(buf, time.RFC3339Nano)
	ends[4] = len(buf)
	buf = append(buf, e.Subject...)
	ends[5] = len(buf)
	buf = append(buf, "application/json"...)
	ends[6] = len(buf)

	headers = make([]Header, len(binaryHeaderKeys))
	start := 0
	for i, k := range binaryHeaderKeys {
		headers[i] = Header{Key: k, Value: buf[start:ends[i]:ends[i]]}
		start = ends[i]
	}
	return value, headers
}

// binaryHeaderKeys are EncodeBinary's headers, in order.
var binaryHeaderKeys = [7]string{"ce_specversion", "ce_id", "ce_type", "ce_source", "ce_time", "ce_subject", "content-type"}

// dataSize estimates the encoded size of d (exact unless strings need
// escaping), to allocate once.
func dataSize(d *Data) int {
	n := 2
	for f := range numFields {
		switch f {
		case fMissing:
			if len(d.Missing) > 0 {
				n += len(fieldNames[f]) + 6
				for _, m := range d.Missing {
					n += len(m) + 3
				}
			}
		case fScheduledFor:
			if !d.ScheduledFor.IsZero() {
				n += len(fieldNames[f]) + 6 + len("2006-01-02T15:04:05.999999999Z")
			}
		default:
			if v := *d.str(f); v != "" {
				n += len(fieldNames[f]) + len(v) + 6
			}
		}
	}
	return n
}

// appendData writes the data object: the non-zero fields in Data's order.
func appendData(dst []byte, d *Data) []byte {
	dst = append(dst, '{')
	first := true
	for f := range numFields {
		switch f {
		case fMissing:
			if len(d.Missing) == 0 {
				continue
			}
		case fScheduledFor:
			if d.ScheduledFor.IsZero() {
				continue
			}
		default:
			if *d.str(f) == "" {
				continue
			}
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, '"')
		dst = append(dst, fieldNames[f]...)
		dst = append(dst, '"', ':')
		switch f {
		case fMissing:
			dst = append(dst, '[')
			for i, m := range d.Missing {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = appendString(dst, m)
			}
			dst = append(dst, ']')
		case fScheduledFor:
			dst = appendTime(dst, d.ScheduledFor)
		default:
			dst = appendString(dst, *d.str(f))
		}
	}
	return append(dst, '}')
}

// appendTime writes t in UTC, with a fraction only if t has one.
func appendTime(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

// appendString writes s as a JSON string. It escapes only what JSON requires
// (quote, backslash, control characters); invalid UTF-8 becomes U+FFFD so
// the output is always valid JSON.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if plain[c] {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
				i += n
				start = i
				continue
			}
			i += n
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			const hex = "0123456789abcdef"
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
