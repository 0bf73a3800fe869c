package mapping

import (
	"slices"
	"testing"

	"github.com/referralops/referralops/ingest/event"
)

// FuzzMap: any input, in either format, has exactly one kind of outcome; a
// dead letter has a reason of the closed set; every event is valid for the
// contract's decoder.
func FuzzMap(f *testing.F) {
	f.Add([]byte(minimalREF), true)
	f.Add([]byte(`{"resourceType":"Task","id":"t","status":"accepted","focus":{"reference":"ServiceRequest/s"},"lastModified":"2026-03-03"}`), false)
	m := testMapper(f)
	dec := event.NewDecoder(event.DefaultConfig())
	reasons := append(event.Reasons(), event.StandardReasons()...)
	f.Fuzz(func(t *testing.T, b []byte, hl7 bool) {
		format := FormatFHIR
		if hl7 {
			format = FormatHL7v2
		}
		o := m.Map(format, b)
		kinds := 0
		for _, yes := range []bool{len(o.Events) > 0, o.Skipped != "", o.Err != nil} {
			if yes {
				kinds++
			}
		}
		if kinds != 1 || len(o.Encoded) != len(o.Events) {
			t.Fatalf("outcome %+v", o)
		}
		if o.Err != nil && !slices.Contains(reasons, o.Err.Reason) {
			t.Fatalf("reason %q outside the closed set", o.Err.Reason)
		}
		if o.Skipped != "" && !slices.Contains(SkipReasons(), o.Skipped) {
			t.Fatalf("skip reason %q outside the set", o.Skipped)
		}
		for i, e := range o.Encoded {
			ev, err := dec.Decode(e, nil)
			if err != nil && event.ReasonOf(err) != event.ReasonFutureTime {
				t.Fatalf("event %s does not decode: %v", e, err)
			}
			if err == nil && ev.ID != o.Events[i].ID {
				t.Fatalf("decoded id %s, mapped %s", ev.ID, o.Events[i].ID)
			}
		}
	})
}
