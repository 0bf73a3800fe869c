package event

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"time"
	"unicode/utf8"
)

// Order of checks. A message that is wrong in several ways always gets the
// same reason, the first of:
//
//  1. too_large: the value is longer than MaxMessageBytes (nothing is parsed).
//  2. not_json: the value is not valid UTF-8 JSON, anywhere in it, including
//     members the contract ignores (binary mode: a non-empty value).
//  3. not_cloudevent: in structured mode the value is not an object or has
//     no specversion; in either mode specversion is not the string "1.0".
//  4. The envelope, attribute by attribute: id, source, type, time, subject,
//     datacontenttype, data. For each: absent or null → missing_field; not a
//     string → invalid_field; then its own rule (unknown_type, bad_time,
//     future_time or invalid_field).
//  5. The type's data fields in the order of EVENTS.md's table, each like
//     the attributes: missing_field, then invalid_field (wrong JSON type,
//     enum, identifier, length) or bad_time.
//
// A repeated key counts once, with its last value; a null counts as absent.

// validate applies the contract to a scanned message and fills ev; strings
// that ev keeps are left pending in st until finish.
func (d *Decoder) validate(st *decodeState, ev *Event) *Error {
	a := &st.attrs

	if err := st.checkSpecVersion(); err != nil {
		return err
	}

	// id: the idempotency key. Any text, 1–128 characters; its value is never
	// put in an error, although logs may name events by it.
	v := a[aID]
	if err := needString(v, "id"); err != nil {
		return err
	}
	n, hasUnsafe := freeText(st.text(v))
	if n == 0 || n > maxIDLen {
		return invalidField("id", "must be 1-"+strconv.Itoa(maxIDLen)+" characters")
	}
	if hasUnsafe {
		return invalidField("id", unsafeTextRule)
	}
	st.commit(tID, 0, v)

	v = a[aSource]
	if err := needString(v, "source"); err != nil {
		return err
	}
	n, hasUnsafe = freeText(st.text(v))
	if n == 0 || n > maxSourceLen {
		return invalidField("source", "must be 1-"+strconv.Itoa(maxSourceLen)+" characters")
	}
	if hasUnsafe {
		return invalidField("source", unsafeTextRule)
	}
	st.commit(tSource, 0, v)

	v = a[aType]
	if err := needString(v, "type"); err != nil {
		return err
	}
	b := st.text(v)
	ti := typeByName[string(b)]
	if ti == nil {
		return &Error{Reason: ReasonUnknownType, Field: "type", Detail: quote(b) + " is not a type of the contract"}
	}
	ev.Type = ti.typ

	v = a[aTime]
	if err := needString(v, "time"); err != nil {
		return err
	}
	sec, nsec, bad := parseTime(st.text(v))
	if bad != "" {
		return &Error{Reason: ReasonBadTime, Field: "time", Detail: bad}
	}
	// Compare before truncating, so a time a fraction past the limit is late.
	if d.maxSkew >= 0 && d.future(sec, nsec) {
		return &Error{Reason: ReasonFutureTime, Field: "time", Detail: "more than " + d.maxSkew.String() + " in the future"}
	}
	ev.Time = time.Unix(sec, 0).UTC()

	v = a[aSubject]
	if err := needString(v, "subject"); err != nil {
		return err
	}
	b = st.text(v)
	if !isIdent(b) {
		return invalidField("subject", identRule)
	}
	st.commit(tSubject, 0, v)

	if v = a[aDataContentType]; v.present() {
		if v.kind != jsonString {
			return invalidField("datacontenttype", v.kind.String()+", want a string")
		}
		if b = st.text(v); !isJSONMediaType(b) {
			return invalidField("datacontenttype", quote(b)+" is not a JSON media type")
		}
	}
	if v = a[aData]; v.present() && v.kind != jsonObject {
		return invalidField("data", v.kind.String()+", want an object")
	}

	for _, r := range ti.rules {
		if err := d.dataField(st, ev, r); err != nil {
			return err
		}
	}
	return nil
}

// checkSpecVersion: binary mode may leave ce_specversion out (ce_id then
// marks the mode); structured mode must carry it.
func (st *decodeState) checkSpecVersion() *Error {
	v := st.attrs[aSpecVersion]
	switch {
	case !v.present():
		if st.binary {
			return nil
		}
		return &Error{Reason: ReasonNotCloudEvent, Field: "specversion", Detail: "required"}
	case v.kind != jsonString:
		return &Error{Reason: ReasonNotCloudEvent, Field: "specversion", Detail: v.kind.String() + `, want "1.0"`}
	}
	if b := st.text(v); string(b) != "1.0" {
		return &Error{Reason: ReasonNotCloudEvent, Field: "specversion", Detail: quote(b) + ` is not "1.0"`}
	}
	return nil
}

// dataField checks one data field of the event's type and sets it in ev.
func (d *Decoder) dataField(st *decodeState, ev *Event, r rule) *Error {
	v := st.fields[r.field]
	path := fieldPaths[r.field]
	if !v.present() {
		if r.required {
			return &Error{Reason: ReasonMissingField, Field: path, Detail: "required for " + string(ev.Type)}
		}
		if r.def != "" {
			*ev.Data.str(r.field) = r.def
		}
		return nil
	}
	if r.kind == kindList {
		return st.list(v, ev)
	}
	if err := needString(v, path); err != nil {
		return err
	}
	switch r.kind {
	case kindEnum:
		b := st.text(v)
		s, ok := r.enum.lookup(b)
		if !ok {
			return invalidField(path, quote(b)+" is not one of "+r.enum.list)
		}
		*ev.Data.str(r.field) = s
	case kindServiceLine:
		if d.serviceLines == nil { // Encode's checker: any name a site could configure
			b := st.text(v)
			if !validServiceLineName(b) {
				return invalidField(path, quote(b)+" is not a service line name")
			}
			st.commit(tField, int(r.field), v)
			return nil
		}
		b := st.text(v)
		s, ok := d.serviceLines.lookup(b)
		if !ok {
			return invalidField(path, quote(b)+" is not one of "+d.serviceLines.list)
		}
		*ev.Data.str(r.field) = s
	case kindIdent:
		b := st.text(v)
		if !isIdent(b) {
			return invalidField(path, identRule)
		}
		st.commit(tField, int(r.field), v)
	case kindText:
		b := st.text(v)
		if utf8.RuneCount(b) > r.max {
			return invalidField(path, "longer than "+strconv.Itoa(r.max)+" characters")
		}
		st.commit(tField, int(r.field), v)
	case kindTime:
		sec, _, bad := parseTime(st.text(v))
		if bad != "" {
			return &Error{Reason: ReasonBadTime, Field: path, Detail: bad}
		}
		// The zero time and other placeholder dates would read as "no slot"
		// or as a wait of decades; no real appointment precedes 2000.
		if sec < minSlotUnix {
			return &Error{Reason: ReasonBadTime, Field: path, Detail: "before " + minSlotText}
		}
		ev.Data.ScheduledFor = time.Unix(sec, 0).UTC()
	}
	return nil
}

// list checks and keeps `missing`: at most maxMissing strings of at most
// maxMissingLen characters. An empty list decodes as nil, like an absent one.
func (st *decodeState) list(v jsonValue, ev *Event) *Error {
	const path = "data.missing"
	if v.kind != jsonArray {
		return invalidField(path, v.kind.String()+", want an array of strings")
	}
	// First pass: check every item and count them, to allocate exactly. The
	// scan has validated the JSON, so the scanner cannot fail here.
	n := 0
	for s := arrayItems(v.raw); s.peek() != 0; n++ {
		item, _ := s.value(1)
		switch {
		case n == maxMissing:
			return invalidField(path, "more than "+strconv.Itoa(maxMissing)+" items")
		case item.kind != jsonString:
			return invalidField(path, "item "+strconv.Itoa(n)+" is "+item.kind.String()+", want a string")
		case utf8.RuneCount(st.text(item)) > maxMissingLen:
			return invalidField(path, "item "+strconv.Itoa(n)+" is longer than "+strconv.Itoa(maxMissingLen)+" characters")
		}
		s.comma()
	}
	if n == 0 {
		return nil
	}
	ev.Data.Missing = make([]string, n)
	for i, s := 0, arrayItems(v.raw); i < n; i++ {
		item, _ := s.value(1)
		st.commit(tMissing, i, item)
		s.comma()
	}
	return nil
}

// arrayItems returns a scanner over the items of a validated array, without
// its brackets: value() reads an item, comma() steps over the separator, and
// peek() is 0 after the last item.
func arrayItems(raw []byte) scanner {
	return scanner{b: raw[:len(raw)-1], i: 1}
}

func (s *scanner) comma() {
	if s.peek() == ',' {
		s.i++
	}
}

// unsafeTextRule is the rule of the free-text envelope attributes id and
// source, as error detail.
const unsafeTextRule = "must not contain control characters or bidirectional formatting characters"

// freeText measures the free text b of id or source: its length in
// characters, and whether it holds an unsafe rune (hasUnsafeRune). Printable
// ASCII, nearly every id and source, is told apart eight bytes at a time.
func freeText(b []byte) (chars int, hasUnsafe bool) {
	if printableASCII(b) {
		return len(b), false
	}
	return utf8.RuneCount(b), hasUnsafeRune(b)
}

// printableASCII reports whether every byte of b is in 0x20-0x7e.
func printableASCII(b []byte) bool {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		// a high bit in the first term: a byte < 0x20; in the second: >= 0x7f
		if ((x-ones*0x20)&^x|(x+ones)|x)&high != 0 {
			return false
		}
	}
	for ; i < len(b); i++ {
		if b[i] < 0x20 || b[i] >= 0x7f {
			return false
		}
	}
	return true
}

// hasUnsafeRune reports whether b holds a character that would corrupt a log
// line, a terminal or a Grafana table when the text is shown: C0 and C1
// controls (NUL, ESC, CR, LF, ...), DEL, line and paragraph separators, and
// the bidirectional marks, embeddings, overrides and isolates that can make
// text display in another order than it is stored (CVE-2021-42574).
func hasUnsafeRune(b []byte) bool {
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		b = b[n:]
		switch {
		case r < 0x20, r >= 0x7f && r <= 0x9f:
			return true
		case r == 0x061c, r == 0x200e, r == 0x200f, // ALM, LRM, RLM
			r >= 0x202a && r <= 0x202e, // LRE, RLE, PDF, LRO, RLO
			r >= 0x2066 && r <= 0x2069, // LRI, RLI, FSI, PDI
			r == 0x2028, r == 0x2029:   // line and paragraph separators
			return true
		}
	}
	return false
}

// Appointment slots before minSlotUnix are placeholders, not times.
const (
	minSlotUnix = 946684800 // 2000-01-01T00:00:00Z
	minSlotText = "2000-01-01T00:00:00Z"
)

// identRule is the identifier rule of EVENTS.md, as error detail.
const identRule = "must be 1-128 characters from letters, digits and . _ - : /"

var identByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "._-:/" {
		t[c] = true
	}
	return t
}()

func isIdent(b []byte) bool {
	if len(b) == 0 || len(b) > maxIdentLen {
		return false
	}
	for _, c := range b {
		if !identByte[c] {
			return false
		}
	}
	return true
}

// validServiceLineName is the rule for configured service lines: they become
// Prometheus label values and dashboard variables, so lowercase snake case.
func validServiceLineName[T string | []byte](s T) bool {
	if len(s) == 0 || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// isJSONMediaType accepts application/json, text/json and any +json type,
// with parameters (charset) and in any case.
func isJSONMediaType(b []byte) bool {
	if string(b) == "application/json" { // the common case, without folding
		return true
	}
	if i := bytes.IndexByte(b, ';'); i >= 0 {
		b = b[:i]
	}
	b = bytes.TrimSpace(b)
	slash := bytes.IndexByte(b, '/')
	return bytes.EqualFold(b, []byte("application/json")) || bytes.EqualFold(b, []byte("text/json")) ||
		slash > 0 && len(b) > slash+5 && bytes.EqualFold(b[len(b)-5:], []byte("+json"))
}

// needString is the check every string attribute and field starts with:
// present, a string, and (from a header) UTF-8.
func needString(v jsonValue, path string) *Error {
	switch {
	case !v.present():
		return &Error{Reason: ReasonMissingField, Field: path, Detail: "required"}
	case v.kind != jsonString:
		return invalidField(path, v.kind.String()+", want a string")
	case v.hdr && !utf8.Valid(v.raw):
		return invalidField(path, "header value is not valid UTF-8")
	}
	return nil
}

func invalidField(path, detail string) *Error {
	return &Error{Reason: ReasonInvalidField, Field: path, Detail: detail}
}

// future tells whether the time sec.nsec is more than maxSkew after now. The
// clock is read only for a time at or past the limit read last (reading it
// for every event was 3% of the ingester's CPU): "now" only grows, so a time
// before an older limit is before the current one.
func (d *Decoder) future(sec int64, nsec int) bool {
	if sec < d.limit.Load() {
		return false
	}
	limit := d.now().Add(d.maxSkew)
	d.limit.Store(limit.Unix()) // a concurrent call storing an older one only costs a clock read
	return time.Unix(sec, int64(nsec)).After(limit)
}
