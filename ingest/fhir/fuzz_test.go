package fhir

import (
	"errors"
	"testing"
)

// FuzzDecode: any input decodes into resources that all have a type, or
// fails with ErrNotFHIR.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(bundle))
	f.Add([]byte(`{"resourceType":"Appointment","id":"a1","status":"booked","basedOn":[{"reference":"ServiceRequest/sr1"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrNotFHIR) {
				t.Fatalf("error does not wrap ErrNotFHIR: %v", err)
			}
			return
		}
		for _, e := range d.Entries {
			if e.Resource == nil || e.Resource.ResourceType == "" || e.Resource.ResourceType == "Bundle" {
				t.Fatalf("entry %+v", e)
			}
			e.Resource.Requester.Target()
		}
	})
}
