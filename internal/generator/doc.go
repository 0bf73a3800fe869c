// Package generator simulates a referral network and produces the events of
// EVENTS.md as Kafka-ready messages: the synthetic data behind
// `referralops generate`, the demo and the end-to-end tests.
//
// The simulation follows the published shapes of KPIS.md: a long-tailed
// referrer population (some fading, some new), twelve service lines with
// log-normal time to appointment (urgent referrals ~0.6x routine, sites
// 0.5x-2x), leakage driven by the referrer's network with a reason, no-shows
// rising with lead time, prior authorization with denials by payer class and
// appeals, information requests by service line, and consult notes that close
// the loop late, never, or to the patient's PCP instead of the referrer.
// Staff act in office hours on business days (calendar.go: weekends and six
// US holidays off), so triage, information and authorization waits show the
// weekends and holidays that business-day SLAs skip.
//
// Output is deterministic for a Config: the same seed gives the same bytes,
// except for future_time invalid messages, which are relative to Config.Now.
// Referrals are simulated one at a time in creation order and their events are
// merged through a time-ordered heap, so memory grows with the referrals in
// flight, not with the total number of events.
//
// It does not talk to Kafka or write files beyond NDJSON: callers hand the
// messages to a producer. Encoding and validation belong to ingest/event; the
// generator only decides what happened and when.
package generator
