package ingest

import (
	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/ingest/mapping"
)

// formatCloudEvents labels the events of the CloudEvents topics beside the
// standard formats (mapping.FormatHL7v2, FormatFHIR) in the metrics.
const formatCloudEvents = "cloudevents"

// ReadStandard makes the ingester also consume the HL7 v2 and FHIR topics
// (the broker config's Topics.HL7v2 and .FHIR; an empty name is not read) in
// the same consumer group, mapping each record with m. Call it before Run.
func (in *Ingester) ReadStandard(m *mapping.Mapper) {
	in.mapper = m
	for _, f := range []mapping.Format{mapping.FormatHL7v2, mapping.FormatFHIR} {
		if in.standardTopic(f) == "" {
			continue
		}
		in.metrics.fetchErrors.WithLabelValues(in.standardTopic(f))
	}
	for _, r := range event.StandardReasons() {
		in.metrics.deadLetters.WithLabelValues(string(r))
	}
}

func (in *Ingester) standardTopic(f mapping.Format) string {
	if f == mapping.FormatHL7v2 {
		return in.kafka.Topics.HL7v2
	}
	return in.kafka.Topics.FHIR
}

// Topics are the topics the group consumes.
func (in *Ingester) Topics() []string {
	ts := in.kafka.Topics.Inputs()
	if in.mapper != nil {
		for _, f := range []mapping.Format{mapping.FormatHL7v2, mapping.FormatFHIR} {
			if t := in.standardTopic(f); t != "" {
				ts = append(ts, t)
			}
		}
	}
	return ts
}

// formatOf is the standard format of a topic, "" for a CloudEvents topic.
func (in *Ingester) formatOf(topic string) mapping.Format {
	if in.mapper == nil {
		return ""
	}
	for _, f := range []mapping.Format{mapping.FormatHL7v2, mapping.FormatFHIR} {
		if t := in.standardTopic(f); t != "" && t == topic {
			return f
		}
	}
	return ""
}

// decode turns one record into its item: the events it carries (one for a
// CloudEvent, any number for a standard message), a skip, or a dead letter.
// Mapped events pass the same decoder as CloudEvents, so both paths share
// every check of the contract (future_time, the site's service lines, ...).
func (in *Ingester) decode(m *kafka.Message, it *item) {
	defer func() {
		if p := recover(); p != nil {
			in.decodePanicked(m, it, p)
		}
	}()
	f := in.formatOf(m.Topic)
	if f == "" {
		in.headers = appendEventHeaders(in.headers[:0], m.Headers)
		ev, err := in.decoder.DecodeShared(m.Value, in.headers)
		clear(in.headers) // holds no record's bytes past its decode
		if err != nil {
			in.deadItem(m, it, err)
			return
		}
		it.ev, it.format = ev, formatCloudEvents
		return
	}
	it.format = string(f)
	o := in.mapper.Map(f, m.Value)
	switch {
	case o.Err != nil:
		in.deadItem(m, it, o.Err)
		return
	case o.Skipped != "":
		it.skipped = o.Skipped
		return
	}
	it.evs = make([]event.Event, len(o.Encoded))
	for i, b := range o.Encoded {
		ev, err := in.decoder.DecodeShared(b, nil)
		if err != nil {
			in.deadItem(m, it, err)
			return
		}
		it.evs[i] = ev
	}
}

func (in *Ingester) deadItem(m *kafka.Message, it *item, err error) {
	dl, reduced := deadLetter(m, err)
	it.evs, it.dead, it.reason, it.reduced = nil, &dl, event.ReasonOf(err), reduced
}

// appendEventHeaders appends Kafka headers, converted for the decoder
// (binary mode reads ce_*), to dst.
func appendEventHeaders(dst []event.Header, hs []kafka.Header) []event.Header {
	for _, h := range hs {
		dst = append(dst, event.Header{Key: h.Key, Value: h.Value})
	}
	return dst
}
