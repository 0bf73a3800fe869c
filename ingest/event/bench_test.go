package event

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
	"time"
)

// benchEvent is a typical referral.created, compacted as producers send it
// (~540 bytes).
func benchEvent(b *testing.B) []byte {
	b.Helper()
	raw, err := os.ReadFile("testdata/valid/referral_created.json")
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

func benchDecoder() *Decoder {
	now := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	return NewDecoder(DefaultConfig()).WithClock(func() time.Time { return now })
}

func BenchmarkDecode(b *testing.B) {
	msg := benchEvent(b)
	d := benchDecoder()
	ev, err := d.Decode(msg, nil)
	if err != nil {
		b.Fatal(err)
	}
	value, headers := EncodeBinary(ev)

	run := func(b *testing.B, decode func([]byte, []Header) (Event, error), value []byte, headers []Header) {
		b.ReportAllocs()
		b.SetBytes(int64(len(value)))
		for b.Loop() {
			if _, err := decode(value, headers); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	}
	b.Run("structured", func(b *testing.B) { run(b, d.Decode, msg, nil) })
	b.Run("binary", func(b *testing.B) { run(b, d.Decode, value, headers) })
	// the ingester's: strings share the message
	b.Run("structured_shared", func(b *testing.B) { run(b, d.DecodeShared, msg, nil) })

	// The alternative the hand-written scanner replaced: encoding/json into
	// an envelope with json.RawMessage data, then into a struct of all data
	// fields, with no validation at all. Kept to re-check the choice.
	b.Run("encoding_json_baseline", func(b *testing.B) {
		type envelope struct {
			SpecVersion, ID, Source, Type, Time, Subject, DataContentType *string
			Data                                                          json.RawMessage
		}
		type data struct {
			ReferrerID         *string  `json:"referrer_id"`
			ReferrerOrgID      *string  `json:"referrer_org_id"`
			ReferrerType       *string  `json:"referrer_type"`
			ReferrerNetwork    *string  `json:"referrer_network"`
			ServiceLine        *string  `json:"service_line"`
			LocationID         *string  `json:"location_id"`
			DestinationNetwork *string  `json:"destination_network"`
			DestinationOrgID   *string  `json:"destination_org_id"`
			PayerClass         *string  `json:"payer_class"`
			Priority           *string  `json:"priority"`
			Channel            *string  `json:"channel"`
			PatientToken       *string  `json:"patient_token"`
			Reason             *string  `json:"reason"`
			Missing            []string `json:"missing"`
			AppointmentID      *string  `json:"appointment_id"`
			ScheduledFor       *string  `json:"scheduled_for"`
			VisitType          *string  `json:"visit_type"`
			CancelledBy        *string  `json:"cancelled_by"`
			Recipient          *string  `json:"recipient"`
			Outcome            *string  `json:"outcome"`
		}
		b.ReportAllocs()
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			var e envelope
			var d data
			if err := json.Unmarshal(msg, &e); err != nil {
				b.Fatal(err)
			}
			if err := json.Unmarshal(e.Data, &d); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

func BenchmarkEncode(b *testing.B) {
	ev, err := benchDecoder().Decode(benchEvent(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	n := len(AppendEncode(nil, ev))

	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(n))
		buf := make([]byte, 0, 4096)
		for b.Loop() {
			buf = AppendEncode(buf[:0], ev)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("checked", func(b *testing.B) { // Encode: encode + validate
		b.ReportAllocs()
		b.SetBytes(int64(n))
		for b.Loop() {
			if _, err := Encode(ev); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("binary", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			EncodeBinary(ev)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}
