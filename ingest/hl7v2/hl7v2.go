package hl7v2

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrSyntax is wrapped by every error Parse returns: the bytes are not an ER7
// message.
var ErrSyntax = errors.New("not an HL7 v2 ER7 message")

// Delimiters are a message's encoding characters, from MSH-1 and MSH-2.
type Delimiters struct {
	Field, Component, Repetition, Escape, Subcomponent byte
}

// Message is one parsed message: its segments in order, the first being MSH.
type Message struct {
	Segments []Segment
	Delims   Delimiters
}

// Segment is one segment. Its fields are kept escaped until read.
type Segment struct {
	Name   string
	fields []string // fields[i] is field i+1 (for MSH, fields[0] is MSH-1)
	d      *Delimiters
}

// Parse parses one message. Segments may end with \r, \n or \r\n; blank
// lines are ignored.
func Parse(b []byte) (*Message, error) {
	s := string(bytes.TrimLeft(b, "\x0b\r\n\t \ufeff"))
	if len(s) < 8 || s[:3] != "MSH" {
		return nil, fmt.Errorf("%w: does not start with MSH", ErrSyntax)
	}
	d := Delimiters{Field: s[3]}
	if !isDelimiter(d.Field) {
		return nil, fmt.Errorf("%w: MSH-1 field separator is a letter, digit or control character", ErrSyntax)
	}
	enc := s[4:]
	if i := strings.IndexByte(enc, d.Field); i >= 0 {
		enc = enc[:i]
	} else {
		return nil, fmt.Errorf("%w: MSH-2 is not followed by a field separator", ErrSyntax)
	}
	// MSH-2 is component, repetition, escape, subcomponent (and, from v2.7,
	// truncation). Only the component separator is mandatory in practice.
	if len(enc) < 1 || len(enc) > 5 {
		return nil, fmt.Errorf("%w: MSH-2 has %d encoding characters, want 1-5", ErrSyntax, len(enc))
	}
	chars := []*byte{&d.Component, &d.Repetition, &d.Escape, &d.Subcomponent}
	seen := map[byte]bool{d.Field: true}
	for i, p := range chars {
		if i >= len(enc) {
			break
		}
		c := enc[i]
		if !isDelimiter(c) || seen[c] {
			return nil, fmt.Errorf("%w: MSH-2 encoding character %d is invalid or repeated", ErrSyntax, i+1)
		}
		seen[c] = true
		*p = c
	}
	m := &Message{Delims: d}
	for n, line := range splitLines(s) {
		if line == "" {
			continue
		}
		if !validName(line) {
			return nil, fmt.Errorf("%w: segment %d has no valid segment name", ErrSyntax, n+1)
		}
		if len(line) > 3 && line[3] != d.Field {
			return nil, fmt.Errorf("%w: segment %d: name is not followed by the field separator", ErrSyntax, n+1)
		}
		seg := Segment{Name: line[:3], d: &m.Delims}
		if seg.Name == "MSH" {
			if len(m.Segments) > 0 {
				return nil, fmt.Errorf("%w: segment %d: a second MSH (use Split for streams)", ErrSyntax, n+1)
			}
			seg.fields = append([]string{string(d.Field)}, strings.Split(line[4:], string(d.Field))...)
		} else if len(line) > 4 {
			seg.fields = strings.Split(line[4:], string(d.Field))
		}
		m.Segments = append(m.Segments, seg)
	}
	return m, nil
}

func isDelimiter(c byte) bool {
	return c > ' ' && c < 0x7f && !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z')
}

// validName: three upper-case letters or digits, starting with a letter.
func validName(line string) bool {
	if len(line) < 3 || line[0] < 'A' || line[0] > 'Z' {
		return false
	}
	for i := 1; i < 3; i++ {
		if c := line[i]; !('A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// splitLines splits at \r, \n and \r\n.
func splitLines(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == '\r' || r == '\n' })
}

// Split cuts a stream into messages: each starts at an MSH segment. MLLP
// framing (0x0b, 0x1c) and batch envelope segments (FHS, BHS, BTS, FTS) are
// dropped; text before the first MSH is returned as its own chunk so that
// the caller reports it (Parse rejects it).
func Split(b []byte) [][]byte {
	var out [][]byte
	var cur []byte
	flush := func() {
		if len(bytes.TrimSpace(cur)) > 0 {
			out = append(out, cur)
		}
		cur = nil
	}
	for _, line := range bytes.FieldsFunc(b, func(r rune) bool { return r == '\r' || r == '\n' || r == 0x0b || r == 0x1c }) {
		if len(line) >= 4 && (string(line[:3]) == "FHS" || string(line[:3]) == "BHS" || string(line[:3]) == "BTS" || string(line[:3]) == "FTS") && isDelimiter(line[3]) {
			flush()
			continue
		}
		if len(line) >= 4 && string(line[:3]) == "MSH" && isDelimiter(line[3]) {
			flush()
		}
		cur = append(append(cur, line...), '\r')
	}
	flush()
	return out
}

// Type returns MSH-9's message code and trigger event, e.g. "REF", "I12".
func (m *Message) Type() (code, trigger string) {
	msh := m.Segments[0]
	return msh.Field(9).Component(1).String(), msh.Field(9).Component(2).String()
}

// Version returns MSH-12's version id, e.g. "2.5.1".
func (m *Message) Version() string { return m.Segments[0].Field(12).Component(1).String() }

// Segment returns the first segment named name.
func (m *Message) Segment(name string) (Segment, bool) {
	for _, s := range m.Segments {
		if s.Name == name {
			return s, true
		}
	}
	return Segment{}, false
}

// All returns every segment named name, in order.
func (m *Message) All(name string) []Segment {
	var out []Segment
	for _, s := range m.Segments {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// Get returns the value at p in the first segment that has one, unescaped;
// "" if none does.
func (m *Message) Get(p Path) string {
	for _, s := range m.Segments {
		if s.Name != p.Segment {
			continue
		}
		f := s.Field(p.Field)
		if p.Repetition > 0 {
			reps := f.Repetitions()
			if p.Repetition > len(reps) {
				continue
			}
			f = reps[p.Repetition-1]
		}
		if p.Component > 0 {
			f = f.Component(p.Component)
			if p.Subcomponent > 0 {
				f = f.Subcomponent(p.Subcomponent)
			}
		}
		if v := f.String(); v != "" {
			return v
		}
	}
	return ""
}

// Field returns field n (1-based, as HL7 numbers them); empty if absent.
func (s Segment) Field(n int) Value {
	if n < 1 || n > len(s.fields) {
		return Value{d: s.d}
	}
	return Value{raw: s.fields[n-1], d: s.d, level: levelField}
}

// Value is a field, repetition, component or subcomponent, still escaped.
type Value struct {
	raw   string
	d     *Delimiters
	level int
}

// The levels a Value can be at; each splits at the next delimiter down.
const (
	levelField = iota
	levelRepetition
	levelComponent
	levelSubcomponent
)

// Repetitions splits a field at the repetition separator.
func (v Value) Repetitions() []Value {
	if v.level != levelField || v.d == nil || v.d.Repetition == 0 {
		return []Value{{raw: v.raw, d: v.d, level: levelRepetition}}
	}
	parts := strings.Split(v.raw, string(v.d.Repetition))
	out := make([]Value, len(parts))
	for i, p := range parts {
		out[i] = Value{raw: p, d: v.d, level: levelRepetition}
	}
	return out
}

// Component returns component n (1-based) of a field's first repetition or
// of a repetition.
func (v Value) Component(n int) Value {
	if v.level == levelField {
		v = v.Repetitions()[0]
	}
	if v.level != levelRepetition || v.d == nil {
		return Value{d: v.d, level: levelComponent}
	}
	return Value{raw: nth(v.raw, v.d.Component, n), d: v.d, level: levelComponent}
}

// Subcomponent returns subcomponent n (1-based) of a component.
func (v Value) Subcomponent(n int) Value {
	if v.level < levelComponent {
		v = v.Component(1)
	}
	if v.level != levelComponent || v.d == nil || v.d.Subcomponent == 0 {
		if n == 1 && v.level == levelComponent {
			return Value{raw: v.raw, d: v.d, level: levelSubcomponent}
		}
		return Value{d: v.d, level: levelSubcomponent}
	}
	return Value{raw: nth(v.raw, v.d.Subcomponent, n), d: v.d, level: levelSubcomponent}
}

func nth(s string, sep byte, n int) string {
	if n < 1 || sep == 0 {
		return ""
	}
	for i := 1; i < n; i++ {
		j := strings.IndexByte(s, sep)
		if j < 0 {
			return ""
		}
		s = s[j+1:]
	}
	if j := strings.IndexByte(s, sep); j >= 0 {
		return s[:j]
	}
	return s
}

// Raw returns the value as it is in the message, escapes included.
func (v Value) Raw() string { return v.raw }

// String returns the value unescaped. The HL7 null `""` reads as empty.
func (v Value) String() string {
	if v.raw == `""` {
		return ""
	}
	if v.d == nil || v.d.Escape == 0 || strings.IndexByte(v.raw, v.d.Escape) < 0 {
		return v.raw
	}
	return unescape(v.raw, v.d)
}

// unescape resolves the escape sequences of HL7 v2 chapter 2: delimiters,
// hexadecimal bytes and line breaks. Formatting and character-set escapes
// are dropped; an unterminated escape is kept as text.
func unescape(s string, d *Delimiters) string {
	var b strings.Builder
	b.Grow(len(s))
	e := d.Escape
	for i := 0; i < len(s); i++ {
		if s[i] != e {
			b.WriteByte(s[i])
			continue
		}
		j := strings.IndexByte(s[i+1:], e)
		if j < 0 {
			b.WriteString(s[i:])
			break
		}
		seq := s[i+1 : i+1+j]
		i += j + 1
		switch {
		case seq == "F":
			b.WriteByte(d.Field)
		case seq == "S":
			b.WriteByte(d.Component)
		case seq == "T":
			b.WriteByte(d.Subcomponent)
		case seq == "R":
			b.WriteByte(d.Repetition)
		case seq == "E":
			b.WriteByte(e)
		case seq == ".br":
			b.WriteByte('\n')
		case len(seq) > 1 && seq[0] == 'X' && len(seq)%2 == 1:
			for k := 1; k+1 < len(seq); k += 2 {
				if x, err := strconv.ParseUint(seq[k:k+2], 16, 8); err == nil {
					b.WriteByte(byte(x))
				}
			}
		}
	}
	return b.String()
}
