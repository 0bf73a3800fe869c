// Package event is the referral event contract of EVENTS.md in code: CloudEvents 1.0
// decoding (structured and binary mode), validation and encoding.
//
// It is pure: no I/O, no Kafka, no ClickHouse. The ingester decodes with it, the
// generator encodes with it, and the tests use both. A message that breaks the
// contract yields an *Error whose Reason is the dead-letter reason.
package event
