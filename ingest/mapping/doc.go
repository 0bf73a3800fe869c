// Package mapping turns HL7 v2 messages (package hl7v2) and FHIR R4
// resources (package fhir) into events of the contract (package event), as
// STANDARDS.md describes, with a site's terminology tables and referral links
// (site.yaml, Config).
//
// Each input message has one Outcome: events, skipped with a reason (no
// referral work: an unsupported message type, an appointment with no referral
// link, a status that is no event) or dead-lettered with an *event.Error
// (not_hl7v2, not_fhir, unmapped_code, missing_field, bad_time, ...).
//
// It is stateless: v2 and FHIR carry snapshots, and the facts take the
// earliest booking and the latest slot, so every version maps on its own.
// Event ids are deterministic (a redelivery deduplicates). Referral states
// have one table (states.go) that serves both formats.
//
// PHI: only the patient's assigning authority and MRN are read from PID or
// Patient, and only as input of patient_token (a keyed HMAC-SHA256). Nothing
// else from PID, NK1, GT1, IN1/IN2 (beyond the plan code that picks the payer
// class) or ACC is read; errors quote codes, never identifiers or text.
package mapping
