package hl7v2

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Path names a value the way interface analysts write it: SEG-F[r].C.S, e.g.
// "SCH-26.1", "PID-3[2].4" or "ZRF-1". Zero parts mean "the whole" (field,
// all components) except Repetition, where zero is "any": Get takes the
// first repetition then.
type Path struct {
	Segment                                    string
	Field, Repetition, Component, Subcomponent int
}

// ParsePath parses a path such as "SCH-26.1".
func ParsePath(s string) (Path, error) {
	var p Path
	seg, rest, ok := strings.Cut(s, "-")
	if !ok || !validName(seg) || len(seg) != 3 {
		return p, fmt.Errorf("path %q: want SEG-F[.C[.S]], e.g. SCH-26.1", s)
	}
	p.Segment = seg
	parts := strings.Split(rest, ".")
	if len(parts) > 3 {
		return p, fmt.Errorf("path %q: more than field, component and subcomponent", s)
	}
	f := parts[0]
	if i := strings.IndexByte(f, '['); i >= 0 && strings.HasSuffix(f, "]") {
		r, err := strconv.Atoi(f[i+1 : len(f)-1])
		if err != nil || r < 1 {
			return p, fmt.Errorf("path %q: repetition must be a number >= 1", s)
		}
		p.Repetition, f = r, f[:i]
	}
	nums := []*int{&p.Field, &p.Component, &p.Subcomponent}
	parts[0] = f
	for i, part := range parts {
		n, err := strconv.Atoi(part)
		if err != nil || n < 1 || n > 999 {
			return p, fmt.Errorf("path %q: positions must be numbers 1-999", s)
		}
		*nums[i] = n
	}
	return p, nil
}

// String formats p as ParsePath reads it.
func (p Path) String() string {
	s := p.Segment + "-" + strconv.Itoa(p.Field)
	if p.Repetition > 0 {
		s += "[" + strconv.Itoa(p.Repetition) + "]"
	}
	if p.Component > 0 {
		s += "." + strconv.Itoa(p.Component)
		if p.Subcomponent > 0 {
			s += "." + strconv.Itoa(p.Subcomponent)
		}
	}
	return s
}

// ParseTime parses an HL7 DTM (or TS's first component):
// YYYY[MM[DD[HH[MM[SS[.S{1,4}]]]]]][+/-ZZZZ]. Without an offset the time is in
// loc (the site's zone). Precision coarser than a day is refused: an event
// time needs at least the date.
func ParseTime(s string, loc *time.Location) (time.Time, error) {
	body, zone := s, ""
	if i := strings.IndexAny(s, "+-"); i >= 0 {
		body, zone = s[:i], s[i:]
	}
	if frac := strings.IndexByte(body, '.'); frac >= 0 {
		if frac != 14 || len(body) == 15 || len(body) > 19 || !digits(body[15:]) {
			return time.Time{}, fmt.Errorf("not an HL7 DTM: fraction needs YYYYMMDDHHMMSS and 1-4 digits")
		}
		body = body[:frac]
	}
	if !digits(body) || len(body) < 8 || len(body) > 14 || len(body)%2 != 0 {
		return time.Time{}, fmt.Errorf("not an HL7 DTM: want YYYYMMDD[HH[MM[SS]]] and an optional +/-ZZZZ")
	}
	layout := "20060102150405"[:len(body)]
	if zone != "" {
		if len(zone) != 5 || !digits(zone[1:]) {
			return time.Time{}, fmt.Errorf("not an HL7 DTM: offset must be +/-ZZZZ")
		}
		t, err := time.Parse(layout+"-0700", body+zone)
		if err != nil {
			return time.Time{}, fmt.Errorf("not an HL7 DTM: %s", dateProblem(err))
		}
		return t, nil
	}
	t, err := time.ParseInLocation(layout, body, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("not an HL7 DTM: %s", dateProblem(err))
	}
	return t, nil
}

// dateProblem keeps time.Parse's complaint without the value it quotes.
func dateProblem(err error) string {
	if pe, ok := err.(*time.ParseError); ok && pe.Message != "" {
		return strings.TrimPrefix(pe.Message, ": ")
	}
	return "a part is out of range"
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
