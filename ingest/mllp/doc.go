// Package mllp receives HL7 v2 messages over MLLP, the framing most
// hospital interface engines send with (0x0b, the ER7 message, 0x1c 0x0d),
// and writes each message as one Kafka record.
//
// It answers every message with an HL7 ACK, and MSA|AA only after Kafka has
// acknowledged the record (all in-sync replicas), so a sender never drops a
// message we did not keep: AE (retry) when Kafka fails, AR (do not resend as
// is) for bytes that are not HL7 v2 or are larger than the limit. It does not
// map messages to events (package mapping does that when the topic is
// consumed) and logs no message content.
package mllp
