// Package fhir decodes FHIR R4 JSON: one resource, or a Bundle (transaction,
// batch, searchset, history, collection, subscription notification) whose
// entries are resources.
//
// It decodes only the elements the referral mapping reads (status, codes,
// references, times, identifiers); everything else, names, addresses,
// telecom, narrative and notes included, is skipped by the JSON decoder and
// never held. It knows no referral semantics: that is package mapping.
// Errors wrap ErrNotFHIR and never quote values.
package fhir
