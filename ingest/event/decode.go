package event

import (
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"
)

// Decoder turns Kafka message values (and headers, for binary mode) into
// validated Events. It is safe for concurrent use: after NewDecoder its only
// change is to a cache of the clock (limit).
type Decoder struct {
	maxBytes int
	maxSkew  time.Duration // < 0: no future check (Encode's checker)
	now      func() time.Time
	// limit caches the future_time limit (now + maxSkew) last read, in whole
	// Unix seconds rounded down: see future.
	limit        *atomic.Int64
	serviceLines *enum // nil: any well-formed name (Encode's checker)
}

// NewDecoder returns a Decoder for cfg, which should have passed Validate.
// Fields of cfg that are zero (or negative) take their DefaultConfig value, so
// NewDecoder(Config{}) decodes with the defaults.
func NewDecoder(cfg Config) *Decoder {
	def := DefaultConfig()
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = def.MaxMessageBytes
	}
	if cfg.MaxFutureSkew <= 0 {
		cfg.MaxFutureSkew = def.MaxFutureSkew
	}
	lines := append([]string(nil), builtinServiceLines...)
	seen := make(map[string]bool, len(lines)+len(cfg.ExtraServiceLines))
	for _, l := range lines {
		seen[l] = true
	}
	for _, l := range cfg.ExtraServiceLines {
		if !seen[l] {
			seen[l] = true
			lines = append(lines, l)
		}
	}
	return &Decoder{
		maxBytes:     cfg.MaxMessageBytes,
		maxSkew:      cfg.MaxFutureSkew,
		now:          time.Now,
		limit:        new(atomic.Int64),
		serviceLines: newEnum(lines...),
	}
}

// WithClock returns a copy of d that takes "now" (for the future_time check)
// from now instead of time.Now. For tests; d itself is unchanged.
func (d *Decoder) WithClock(now func() time.Time) *Decoder {
	c := *d
	c.now = now
	if now == nil {
		c.now = time.Now
	}
	c.limit = new(atomic.Int64)
	return &c
}

// Decode decodes and validates one message. Binary mode is chosen when the
// headers carry `ce_specversion` or `ce_id`: the attributes come from the
// `ce_*` headers (and `content-type`) and value is the data JSON, which may be
// empty for types without data. Otherwise value is a structured-mode
// CloudEvent.
//
// The error, if any, is an *Error; see validate.go for the order of checks.
// On success the Event's strings share one allocation, and its enum fields
// are the package's canonical strings.
func (d *Decoder) Decode(value []byte, headers []Header) (Event, error) {
	var ev Event
	if err := d.decode(value, headers, false, &ev); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// DecodeShared is Decode for a caller that copies the Event's strings before
// it changes or reuses value, as the ingester does (into its column
// buffers): the strings without escapes share value's memory instead of
// being copied out of it, which saves a copy and an allocation per event.
func (d *Decoder) DecodeShared(value []byte, headers []Header) (Event, error) {
	var ev Event
	if err := d.decode(value, headers, true, &ev); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// decode fills ev (the Event is passed in: it is large, and copied once).
func (d *Decoder) decode(value []byte, headers []Header, shared bool, ev *Event) *Error {
	if len(value) > d.maxBytes {
		return &Error{Reason: ReasonTooLarge,
			Detail: "message is " + strconv.Itoa(len(value)) + " bytes, limit " + strconv.Itoa(d.maxBytes)}
	}
	var (
		st  decodeState
		err *Error
	)
	if isBinary(headers) {
		err = st.scanBinary(value, headers)
	} else {
		err = st.scanStructured(value)
	}
	if err != nil {
		return err
	}
	if err := d.validate(&st, ev); err != nil {
		return err
	}
	st.finish(ev, shared)
	return nil
}

// Envelope attributes the decoder reads; every other attribute is ignored.
const (
	aSpecVersion = iota
	aID
	aSource
	aType
	aTime
	aSubject
	aDataContentType
	aData
	numAttrs
)

func lookupAttr(key []byte) int {
	switch string(key) {
	case "specversion":
		return aSpecVersion
	case "id":
		return aID
	case "source":
		return aSource
	case "type":
		return aType
	case "time":
		return aTime
	case "subject":
		return aSubject
	case "datacontenttype":
		return aDataContentType
	case "data":
		return aData
	}
	return -1
}

// lookupHeader maps binary-mode headers (CloudEvents Kafka binding) to
// attributes. Header names match exactly, like JSON keys.
func lookupHeader(key string) int {
	switch key {
	case "ce_specversion":
		return aSpecVersion
	case "ce_id":
		return aID
	case "ce_source":
		return aSource
	case "ce_type":
		return aType
	case "ce_time":
		return aTime
	case "ce_subject":
		return aSubject
	case "content-type":
		return aDataContentType
	}
	return -1
}

func isBinary(headers []Header) bool {
	for _, h := range headers {
		if h.Key == "ce_specversion" || h.Key == "ce_id" {
			return true
		}
	}
	return false
}

// maxPending is the most strings one Event keeps: id, source, subject, the
// identifiers and free text of the widest type, and the `missing` items.
const maxPending = 3 + 8 + maxMissing

// decodeState is one Decode call's scratch space; it lives on the stack.
type decodeState struct {
	binary bool
	attrs  [numAttrs]jsonValue  // last occurrence wins
	fields [numFields]jsonValue // data fields, last occurrence wins

	// The strings the Event keeps are copied by finish into one allocation,
	// not one per field; until then pend says where each comes from.
	pend  [maxPending]pending
	npend int

	tmp []byte // unescaped text that is not kept (escaped keys, enums, times)
}

// pending is a string of the Event waiting in the message, raw as scanned.
type pending struct {
	tgt      target
	idx      uint8 // the field for tField, the item for tMissing
	esc      bool
	raw      []byte
	off, end int // in the final string
}

type target uint8

const (
	tID target = iota
	tSource
	tSubject
	tField
	tMissing
)

// scanStructured scans a structured-mode message: a JSON object whose `data`
// member is scanned straight into st.fields (one pass over the bytes).
func (st *decodeState) scanStructured(b []byte) *Error {
	s := scanner{b: b}
	if s.peek() != '{' {
		v, err := s.value(0)
		if err == nil {
			err = s.end()
		}
		if err != nil {
			return err
		}
		return &Error{Reason: ReasonNotCloudEvent, Detail: "message is " + v.kind.String() + ", not an object"}
	}
	s.i++
	if s.peek() == '}' {
		s.i++
		return s.end()
	}
	for {
		raw, esc, err := s.key()
		if err != nil {
			return err
		}
		a := lookupAttr(st.unescapeKey(raw, esc))
		if a == aData && s.peek() == '{' {
			start := s.i
			st.fields = [numFields]jsonValue{} // a repeated "data" replaces the earlier one
			if err := st.scanData(&s, 1); err != nil {
				return err
			}
			st.attrs[aData] = jsonValue{kind: jsonObject, raw: b[start:s.i]}
		} else {
			v, err := s.value(1)
			if err != nil {
				return err
			}
			if a >= 0 {
				st.attrs[a] = v
			}
			if a == aData {
				st.fields = [numFields]jsonValue{}
			}
		}
		done, err := s.more('}')
		if err != nil {
			return err
		}
		if done {
			return s.end()
		}
	}
}

// scanBinary reads the attributes from the headers and scans value as data.
func (st *decodeState) scanBinary(value []byte, headers []Header) *Error {
	st.binary = true
	for _, h := range headers {
		if a := lookupHeader(h.Key); a >= 0 {
			st.attrs[a] = jsonValue{kind: jsonString, hdr: true, raw: h.Value}
		}
	}
	if len(value) == 0 { // no data: fine for types without required data fields
		return nil
	}
	s := scanner{b: value}
	if s.peek() == '{' {
		start := s.i
		if err := st.scanData(&s, 0); err != nil {
			return err
		}
		st.attrs[aData] = jsonValue{kind: jsonObject, raw: value[start:s.i]}
	} else {
		v, err := s.value(0)
		if err != nil {
			return err
		}
		st.attrs[aData] = v
	}
	return s.end()
}

// scanData scans the data object at s.i into st.fields, validating the JSON
// of every member, known or not.
func (st *decodeState) scanData(s *scanner, depth int) *Error {
	s.i++ // '{'
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		raw, esc, err := s.key()
		if err != nil {
			return err
		}
		f, known := lookupField(st.unescapeKey(raw, esc))
		v, err := s.value(depth + 1)
		if err != nil {
			return err
		}
		if known {
			st.fields[f] = v
		}
		done, err := s.more('}')
		if done || err != nil {
			return err
		}
	}
}

func (st *decodeState) unescapeKey(raw []byte, esc bool) []byte {
	if !esc {
		return raw
	}
	st.tmp = appendUnescaped(st.tmp[:0], raw)
	return st.tmp
}

// text returns v's decoded text for a check that does not keep it. The result
// is valid until the next call.
func (st *decodeState) text(v jsonValue) []byte {
	if !v.esc {
		return v.raw
	}
	st.tmp = appendUnescaped(st.tmp[:0], v.raw)
	return st.tmp
}

// commit marks v, which has passed its checks, as the Event's string tgt.
func (st *decodeState) commit(tgt target, idx int, v jsonValue) {
	st.pend[st.npend] = pending{tgt: tgt, idx: uint8(idx), esc: v.esc, raw: v.raw}
	st.npend++
}

// finish copies the pending strings into one string and hands out its parts;
// with shared, only those with escapes, the others share the scanned bytes.
// A strings.Builder grown to the raw size makes that a single allocation:
// unescaping never lengthens a string.
func (st *decodeState) finish(ev *Event, shared bool) {
	pend := st.pend[:st.npend]
	n := 0
	for i := range pend {
		if !shared || pend[i].esc {
			n += len(pend[i].raw)
		}
	}
	var all string
	if n > 0 {
		var sb strings.Builder
		sb.Grow(n)
		for i := range pend {
			p := &pend[i]
			if shared && !p.esc {
				continue
			}
			p.off = sb.Len()
			if p.esc {
				st.tmp = appendUnescaped(st.tmp[:0], p.raw)
				sb.Write(st.tmp)
			} else {
				sb.Write(p.raw)
			}
			p.end = sb.Len()
		}
		all = sb.String()
	}
	for _, p := range pend {
		var s string
		if shared && !p.esc {
			s = unsafe.String(unsafe.SliceData(p.raw), len(p.raw))
		} else {
			s = all[p.off:p.end]
		}
		switch p.tgt {
		case tID:
			ev.ID = s
		case tSource:
			ev.Source = s
		case tSubject:
			ev.Subject = s
		case tField:
			*ev.Data.str(field(p.idx)) = s
		case tMissing:
			ev.Data.Missing[p.idx] = s
		}
	}
}
