package mapping

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/referralops/referralops/ingest/hl7v2"
)

// Format is an input format of the standard inputs.
type Format string

// The formats, as `convert --from` names them.
const (
	FormatHL7v2 Format = "hl7v2"
	FormatFHIR  Format = "fhir"
)

// ContentType is the media type of a Kafka record of format f, as its
// content-type header names it.
func (f Format) ContentType() string {
	if f == FormatHL7v2 {
		return "application/hl7-v2"
	}
	return "application/fhir+json"
}

// Map maps one message of format f.
func (m *Mapper) Map(f Format, b []byte) Outcome {
	if f == FormatHL7v2 {
		return m.HL7v2(b)
	}
	return m.FHIR(b)
}

// Split cuts a file or stream into messages: HL7 v2 at each MSH (see
// hl7v2.Split); FHIR one JSON document, or NDJSON (one resource per line, as
// bulk export writes). An input with no message is one (empty) message, so
// that it is reported rather than silently passed.
func Split(f Format, b []byte) [][]byte {
	if f == FormatHL7v2 {
		if msgs := hl7v2.Split(b); len(msgs) > 0 {
			return msgs
		}
		return [][]byte{b}
	}
	if json.Valid(b) || !bytes.Contains(bytes.TrimSpace(b), []byte("\n")) {
		return [][]byte{b}
	}
	var msgs [][]byte
	for _, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) > 0 {
			msgs = append(msgs, line)
		}
	}
	return msgs
}

// Line is the outcome as `convert` reports it, without the input name:
// "event <type>...", "skipped <reason>" or "dead_letter <reason> <error>".
// It carries types, reasons and the error (which never holds PHI).
func (o Outcome) Line() string {
	switch {
	case o.Err != nil:
		detail := o.Err.Detail
		if o.Err.Field != "" {
			detail = o.Err.Field + ": " + detail
		}
		return "dead_letter " + string(o.Err.Reason) + " " + detail
	case o.Skipped != "":
		return "skipped " + string(o.Skipped)
	}
	types := make([]string, len(o.Events))
	for i, e := range o.Events {
		types[i] = string(e.Type)
	}
	return "event " + strings.Join(types, " ")
}
