package hl7v2

import (
	"errors"
	"testing"
)

// FuzzParse: any input either parses into a message whose first segment is
// MSH and whose values can all be read, or fails with ErrSyntax; Split never
// loses a byte of a segment line.
func FuzzParse(f *testing.F) {
	f.Add([]byte(ref))
	f.Add([]byte("MSH#*@!$#A#F#B#C#20260302##SIU*S12#1#P#2.3\nSCH#x*y@z$w\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, chunk := range Split(b) {
			m, err := Parse(chunk)
			if err != nil {
				if !errors.Is(err, ErrSyntax) {
					t.Fatalf("error does not wrap ErrSyntax: %v", err)
				}
				continue
			}
			if m.Segments[0].Name != "MSH" {
				t.Fatalf("first segment %s", m.Segments[0].Name)
			}
			for _, s := range m.Segments {
				for i := 1; i <= len(s.fields)+1; i++ {
					for _, r := range s.Field(i).Repetitions() {
						_ = r.Component(2).Subcomponent(2).String()
						_ = r.String()
					}
				}
			}
		}
		m, err := Parse(b)
		if err == nil {
			m.Type()
		} else if !errors.Is(err, ErrSyntax) {
			t.Fatalf("error does not wrap ErrSyntax: %v", err)
		}
	})
}
