package event

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A small JSON scanner, written for the decoder's hot path instead of
// encoding/json, which took 12-25µs and 48 allocations just to unmarshal a
// typical referral.created here (BenchmarkDecode/encoding_json_baseline:
// under 100k events/s/core, far below the 250k target). It also
// lets the decoder be strict where encoding/json is lenient: keys match
// exactly (encoding/json matches "ID" to "id"), and invalid UTF-8 is an error
// rather than silently replaced.
//
// The scanner validates the whole value (RFC 8259: grammar, UTF-8, no raw
// control characters in strings) in one pass and hands out the raw bytes of
// the values the decoder knows; nothing is copied until the decoder keeps it.

// jsonKind is the JSON type of a scanned value; jsonAbsent is "no such key".
type jsonKind uint8

const (
	jsonAbsent jsonKind = iota
	jsonNull
	jsonBool
	jsonNumber
	jsonString
	jsonArray
	jsonObject
)

var jsonKindNames = [...]string{"absent", "null", "a boolean", "a number", "a string", "an array", "an object"}

func (k jsonKind) String() string { return jsonKindNames[k] }

// jsonValue is one scanned value. For a string, raw is the text between the
// quotes, still escaped if esc is set (or a header's value in binary mode,
// marked hdr: unescaped, UTF-8 not yet checked); for anything else, raw is the
// value's whole text.
type jsonValue struct {
	kind jsonKind
	esc  bool
	hdr  bool
	raw  []byte
}

// present reports whether the key was given with a non-null value. A null is
// treated as absent, as CloudEvents' JSON format does for attributes.
func (v jsonValue) present() bool { return v.kind > jsonNull }

// maxDepth bounds nesting, as encoding/json does, so a hostile message cannot
// recurse without limit.
const maxDepth = 10000

type scanner struct {
	b []byte
	i int
}

// syntaxError is the not_json error at the scanner's position. It names the
// offset and what was wrong, never the bytes themselves.
func (s *scanner) syntaxError(what string) *Error {
	return &Error{Reason: ReasonNotJSON, Detail: what + " at byte " + strconv.Itoa(s.i)}
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte after whitespace, or 0 at the end (a NUL byte
// also gives 0; callers that care check s.i).
func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// end checks that only whitespace follows the top-level value.
func (s *scanner) end() *Error {
	if s.peek() != 0 || s.i < len(s.b) {
		return s.syntaxError("data after the top-level value")
	}
	return nil
}

// value scans any value and returns it, validated.
func (s *scanner) value(depth int) (jsonValue, *Error) {
	if depth > maxDepth {
		return jsonValue{}, s.syntaxError("nesting too deep")
	}
	c := s.peek()
	start := s.i
	switch c {
	case '"':
		raw, esc, err := s.str()
		return jsonValue{kind: jsonString, esc: esc, raw: raw}, err
	case '{':
		err := s.skipObject(depth)
		return jsonValue{kind: jsonObject, raw: s.b[start:s.i]}, err
	case '[':
		err := s.skipArray(depth)
		return jsonValue{kind: jsonArray, raw: s.b[start:s.i]}, err
	case 't':
		err := s.literal("true")
		return jsonValue{kind: jsonBool, raw: s.b[start:s.i]}, err
	case 'f':
		err := s.literal("false")
		return jsonValue{kind: jsonBool, raw: s.b[start:s.i]}, err
	case 'n':
		return jsonValue{kind: jsonNull}, s.literal("null")
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		err := s.number()
		return jsonValue{kind: jsonNumber, raw: s.b[start:s.i]}, err
	}
	if s.i >= len(s.b) {
		return jsonValue{}, s.syntaxError("unexpected end of input")
	}
	return jsonValue{}, s.syntaxError("invalid character")
}

func (s *scanner) literal(lit string) *Error {
	if !bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
		return s.syntaxError("invalid literal")
	}
	s.i += len(lit)
	return nil
}

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() *Error {
	b, i := s.b, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i)
	default:
		s.i = i
		return s.syntaxError("invalid number")
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			s.i = j
			return s.syntaxError("invalid number")
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			s.i = j
			return s.syntaxError("invalid number")
		}
		i = j
	}
	s.i = i
	return nil
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// plain marks the bytes that need no attention inside a string: printable
// ASCII except '"' and '\\'.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// skipPlain returns the index of the first byte from i on that is not plain
// (or len(b)). Strings are most of an event's bytes, so it looks at eight
// bytes at a time (SWAR) while none of them needs attention.
func skipPlain(b []byte, i int) int {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		q := x ^ (ones * '"')
		bs := x ^ (ones * '\\')
		// A byte's high bit ends up set in m if the byte is < 0x20, '"',
		// '\\' or >= 0x80 (the classic "has a zero/less-than byte" tests).
		m := (x-ones*0x20)&^x | (q-ones)&^q | (bs-ones)&^bs | x
		if m &= high; m != 0 {
			// Each test can flag bytes above a true match (a borrow), never
			// below one, so the lowest flag is the first byte to attend to.
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for i < len(b) && plain[b[i]] {
		i++
	}
	return i
}

// str scans a string at s.i (which is '"') and returns its raw content.
func (s *scanner) str() (raw []byte, esc bool, err *Error) {
	b := s.b
	start := s.i + 1
	i := start
	for {
		i = skipPlain(b, i)
		if i >= len(b) {
			s.i = i
			return nil, false, s.syntaxError("unexpected end of input in string")
		}
		switch c := b[i]; {
		case c == '"':
			s.i = i + 1
			return b[start:i], esc, nil
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				s.i = i
				return nil, false, s.syntaxError("unexpected end of input in string")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex4(b[i+2:i+6]) {
					s.i = i
					return nil, false, s.syntaxError("invalid \\u escape")
				}
				i += 6
			default:
				s.i = i
				return nil, false, s.syntaxError("invalid escape")
			}
		case c < 0x20:
			s.i = i
			return nil, false, s.syntaxError("control character in string")
		default: // a multi-byte UTF-8 sequence
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				s.i = i
				return nil, false, s.syntaxError("invalid UTF-8")
			}
			i += n
		}
	}
}

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c >= 'a':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// skipObject scans and validates an object at s.i (which is '{'). The
// decoder's own object loops (decode.go) follow the same shape.
func (s *scanner) skipObject(depth int) *Error {
	s.i++ // '{'
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		if _, _, err := s.key(); err != nil {
			return err
		}
		if _, err := s.value(depth + 1); err != nil {
			return err
		}
		if done, err := s.more('}'); done || err != nil {
			return err
		}
	}
}

func (s *scanner) skipArray(depth int) *Error {
	s.i++ // '['
	if s.peek() == ']' {
		s.i++
		return nil
	}
	for {
		if _, err := s.value(depth + 1); err != nil {
			return err
		}
		if done, err := s.more(']'); done || err != nil {
			return err
		}
	}
}

// key scans `"key" :` and leaves s.i at the value.
func (s *scanner) key() (raw []byte, esc bool, err *Error) {
	if s.peek() != '"' {
		return nil, false, s.syntaxError("expected a string key")
	}
	if raw, esc, err = s.str(); err != nil {
		return nil, false, err
	}
	if s.peek() != ':' {
		return nil, false, s.syntaxError("expected ':'")
	}
	s.i++
	return raw, esc, nil
}

// more consumes the ',' between members or elements, or the closing byte, in
// which case done is true.
func (s *scanner) more(closing byte) (done bool, err *Error) {
	switch s.peek() {
	case ',':
		s.i++
		return false, nil
	case closing:
		s.i++
		return true, nil
	}
	if s.i >= len(s.b) {
		return false, s.syntaxError("unexpected end of input")
	}
	return false, s.syntaxError("expected ',' or '" + string(closing) + "'")
}

// appendUnescaped appends the decoded content of a raw string. The scanner has
// validated raw, so every escape is well formed. Lone surrogates become
// U+FFFD, as in encoding/json.
func appendUnescaped(dst, raw []byte) []byte {
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\\')
		if i < 0 {
			return append(dst, raw...)
		}
		dst = append(dst, raw[:i]...)
		raw = raw[i:]
		switch c := raw[1]; c {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(raw[2:])
			raw = raw[6:]
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if len(raw) >= 6 && raw[0] == '\\' && raw[1] == 'u' {
					r2 = utf16.DecodeRune(r, hex4(raw[2:]))
				}
				if r2 != utf8.RuneError {
					raw = raw[6:]
				}
				r = r2
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, c)
		}
		raw = raw[2:]
	}
	return dst
}
