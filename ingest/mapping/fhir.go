package mapping

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/ingest/fhir"
)

// FHIR maps one FHIR R4 message: a resource or a Bundle. A Bundle is one
// outcome: its events together; dead-lettered as a whole if any entry is
// (a replay then resends it whole); else skipped with the reason of its
// first entry that is referral-shaped (supporting resources such as
// Patient or Coverage are unsupported_type on their own).
func (m *Mapper) FHIR(b []byte) Outcome {
	if o, ok := tooLarge(b); ok {
		return o
	}
	d, err := fhir.Decode(b)
	if err != nil {
		return dead(&event.Error{Reason: event.ReasonNotFHIR, Detail: strings.TrimPrefix(err.Error(), fhir.ErrNotFHIR.Error()+": ")})
	}
	f := &fhirMsg{m: m, byRef: map[string]*fhir.Resource{}}
	for _, e := range d.Entries {
		r := e.Resource
		if r.ID != "" {
			f.byRef[r.ResourceType+"/"+r.ID] = r
		}
		if e.FullURL != "" {
			f.byRef[e.FullURL] = r
		}
	}
	var all []event.Event
	var reason SkipReason
	for i, e := range d.Entries {
		evs, sk, err := f.resource(e.Resource)
		if err != nil {
			if d.BundleType != "" {
				err.Field = "entry[" + strconv.Itoa(i) + "]." + err.Field
			}
			return dead(err)
		}
		all = append(all, evs...)
		if sk != "" && (reason == "" || reason == SkipUnsupportedType) {
			reason = sk
		}
	}
	if len(all) == 0 {
		if reason == "" {
			reason = SkipUnsupportedType // an empty Bundle
		}
		return skip(reason)
	}
	return finish(all)
}

type fhirMsg struct {
	m     *Mapper
	byRef map[string]*fhir.Resource // "Type/id" and fullUrl → resource of the Bundle
}

// resolve finds a referenced resource in the same Bundle.
func (f *fhirMsg) resolve(r fhir.Reference) *fhir.Resource {
	if x := f.byRef[r.Reference]; x != nil {
		return x
	}
	if typ, id := r.Target(); typ != "" {
		return f.byRef[typ+"/"+id]
	}
	return nil
}

// serviceRequestOf returns the referral id of references to a ServiceRequest.
func serviceRequestOf(refs ...fhir.Reference) string {
	for _, r := range refs {
		if typ, id := r.Target(); typ == "ServiceRequest" && id != "" {
			return id
		}
	}
	return ""
}

func (f *fhirMsg) base(r *fhir.Resource, typ event.Type, subject string, t time.Time) event.Event {
	version := r.Meta.VersionID
	if version == "" {
		version = r.Meta.LastUpdated
	}
	return event.Event{
		ID:     eventID("fhir-", r.ResourceType, r.ID, version, string(typ)),
		Source: "fhir", Type: typ, Time: t.UTC(), Subject: subject,
	}
}

// when parses the first present time element.
func (f *fhirMsg) when(r *fhir.Resource, elems ...string) (time.Time, *event.Error) {
	values := map[string]string{
		"authoredOn": r.AuthoredOn, "lastModified": r.LastModified, "meta.lastUpdated": r.Meta.LastUpdated,
		"created": r.Created, "start": r.Start, "end": r.End, "sent": r.Sent,
		"period.end": r.Period.End, "period.start": r.Period.Start,
	}
	for _, e := range elems {
		if s := values[e]; s != "" {
			t, err := f.m.fhirTime(s)
			if err != nil {
				return t, badTime(r.ResourceType+"."+e, err)
			}
			return t, nil
		}
	}
	return time.Time{}, missing(r.ResourceType + "." + elems[0])
}

// resource maps one resource: events, a skip reason, or a dead letter.
func (f *fhirMsg) resource(r *fhir.Resource) ([]event.Event, SkipReason, *event.Error) {
	switch r.ResourceType {
	case "ServiceRequest":
		return f.serviceRequest(r)
	case "Task":
		sub := serviceRequestOf(r.Focus)
		if sub == "" {
			return nil, SkipNoReferralLink, nil
		}
		s, ok := referralState{}, false
		for _, c := range r.BusinessStatus.Coding {
			if s, ok = stateOfBusinessStatus(c.Code); ok {
				break
			}
		}
		if !ok {
			if r.Status == "" {
				return nil, "", missing("Task.status")
			}
			if s, ok = stateOf(colTask, r.Status); !ok {
				return nil, "", &event.Error{Reason: event.ReasonUnmappedCode, Field: "Task.status", Detail: "referral state table has no entry for " + quoteCode(r.Status)}
			}
		}
		return f.simple(r, s.event, sub, "lastModified", "authoredOn", "meta.lastUpdated")
	case "Appointment":
		return f.appointment(r)
	case "Encounter":
		if r.Status != "finished" {
			return nil, SkipNoEvent, nil
		}
		sub := serviceRequestOf(r.BasedOn...)
		_, appt := firstTarget(r.Appointment, "Appointment")
		if sub == "" || appt == "" {
			return nil, SkipNoReferralLink, nil
		}
		evs, sk, err := f.simple(r, event.AppointmentCompleted, sub, "period.end", "period.start", "meta.lastUpdated")
		if len(evs) == 1 {
			evs[0].Data.AppointmentID = appt
		}
		return evs, sk, err
	case "Communication":
		return f.communication(r)
	case "Claim":
		if r.Use != "preauthorization" {
			return nil, SkipNotReferral, nil
		}
		sub := serviceRequestOf(r.Referral)
		if sub == "" {
			return nil, SkipNoReferralLink, nil
		}
		return f.simple(r, event.ReferralAuthRequested, sub, "created", "meta.lastUpdated")
	case "ClaimResponse":
		return f.claimResponse(r)
	}
	return nil, SkipUnsupportedType, nil
}

// simple emits one event without data fields (or skips a state without one).
func (f *fhirMsg) simple(r *fhir.Resource, typ event.Type, sub string, times ...string) ([]event.Event, SkipReason, *event.Error) {
	if typ == "" {
		return nil, SkipNoEvent, nil
	}
	t, err := f.when(r, times...)
	if err != nil {
		return nil, "", err
	}
	return []event.Event{f.base(r, typ, sub, t)}, "", nil
}

func firstTarget(refs []fhir.Reference, typ string) (string, string) {
	for _, r := range refs {
		if t, id := r.Target(); t == typ && id != "" {
			return t, id
		}
	}
	return "", ""
}

// isReferral: intent order (or original-order) with a referral category
// (SNOMED 3457005 "patient referral", or the code "referral").
func isReferral(r *fhir.Resource) bool {
	if r.Intent != "order" && r.Intent != "original-order" {
		return false
	}
	for _, c := range r.Category {
		for _, code := range c.Codes() {
			if code == "3457005" || strings.EqualFold(code, "referral") {
				return true
			}
		}
	}
	return false
}

func (f *fhirMsg) serviceRequest(r *fhir.Resource) ([]event.Event, SkipReason, *event.Error) {
	if !isReferral(r) {
		return nil, SkipNotReferral, nil
	}
	if r.ID == "" {
		return nil, "", missing("ServiceRequest.id")
	}
	if r.Status == "" {
		return nil, "", missing("ServiceRequest.status")
	}
	s, ok := stateOf(colSR, r.Status)
	if !ok {
		return nil, "", &event.Error{Reason: event.ReasonUnmappedCode, Field: "ServiceRequest.status", Detail: "referral state table has no entry for " + quoteCode(r.Status)}
	}
	if s.event != event.ReferralCreated {
		return f.simple(r, s.event, r.ID, "meta.lastUpdated", "authoredOn")
	}
	t, err := f.when(r, "authoredOn")
	if err != nil {
		return nil, "", err
	}
	ev := f.base(r, event.ReferralCreated, r.ID, t)
	d := &ev.Data
	d.Channel = "fhir"
	terms := &f.m.cfg.Terminology

	d.ReferrerID, d.ReferrerOrgID = f.requester(r.Requester)
	if d.ReferrerID == "" {
		return nil, "", missing("ServiceRequest.requester")
	}
	refKeys := []key{{d.ReferrerOrgID, "requester organisation", true}, {d.ReferrerID, "ServiceRequest.requester", false}}
	var e *event.Error
	if d.ReferrerType, e = f.m.referrerType(d.ReferrerID, "ServiceRequest.requester", d.ReferrerOrgID, "requester organisation"); e != nil {
		return nil, "", e
	}
	if d.ReferrerNetwork, e = lookup("network", terms.Network, true, refKeys...); e != nil {
		return nil, "", e
	}

	_, d.DestinationOrgID = firstTarget(r.Performer, "Organization")
	if d.DestinationNetwork, e = lookup("network", terms.Network, true, key{d.DestinationOrgID, "ServiceRequest.performer", true}); e != nil {
		return nil, "", e
	}
	_, loc := firstTarget(r.Location, "Location")
	if d.LocationID, e = lookup("location", terms.Location, true,
		key{loc, "ServiceRequest.locationReference", true}, key{d.DestinationOrgID, "ServiceRequest.performer", true}); e != nil {
		return nil, "", e
	}

	var svc []key
	for _, c := range r.PerfType.Codes() {
		svc = append(svc, key{c, "ServiceRequest.performerType", true})
	}
	for _, c := range r.Code.Codes() {
		svc = append(svc, key{c, "ServiceRequest.code", true})
	}
	if d.ServiceLine, e = lookup("service_line", terms.ServiceLine, true, svc...); e != nil {
		return nil, "", e
	}
	d.Priority, _ = lookup("priority", terms.Priority, false, key{r.Priority, "ServiceRequest.priority", true})
	d.PayerClass, _ = lookup("payer_class", terms.PayerClass, false, f.payerKeys(r)...)
	d.PatientToken = f.patientToken(r.Subject)
	return []event.Event{ev}, "", nil
}

// requester returns the referring provider (its NPI when the reference or
// the Practitioner in the Bundle carries one, else its id) and organisation.
// A PractitionerRole in the Bundle gives both; an Organization is both.
func (f *fhirMsg) requester(ref fhir.Reference) (id, org string) {
	x := f.resolve(ref)
	if x != nil && x.ResourceType == "PractitionerRole" {
		_, org = x.Organization.Target()
		ref, x = x.Practitioner, f.resolve(x.Practitioner)
	}
	typ, rid := ref.Target()
	if x != nil && x.ResourceType != "Organization" {
		typ, rid = x.ResourceType, x.ID
	}
	switch {
	case typ == "Organization":
		return rid, rid
	case ref.Identifier.Value != "":
		return ref.Identifier.Value, org
	}
	if x != nil {
		for _, i := range x.Identifier {
			if i.System == "http://hl7.org/fhir/sid/us-npi" && i.Value != "" {
				return i.Value, org
			}
		}
	}
	return rid, org
}

// payerKeys are the codes of the first Coverage in the Bundle: its type,
// then its payor. The member id is never decoded.
func (f *fhirMsg) payerKeys(r *fhir.Resource) []key {
	for _, in := range r.Insurance {
		ref := fhir.Reference{Reference: in.Reference}
		if in.Coverage.Reference != "" {
			ref = in.Coverage
		}
		c := f.resolve(ref)
		if c == nil || c.ResourceType != "Coverage" {
			continue
		}
		var keys []key
		for _, t := range c.Type {
			for _, code := range t.Codes() {
				keys = append(keys, key{code, "Coverage.type", false})
			}
		}
		for _, p := range c.Payor {
			if _, id := p.Target(); id != "" {
				keys = append(keys, key{id, "Coverage.payor", false})
			}
		}
		return keys
	}
	return nil
}

// patientToken hashes the subject's MR identifier: from the reference's
// identifier, else from the Patient in the Bundle.
func (f *fhirMsg) patientToken(subject fhir.Reference) string {
	if id := subject.Identifier; id.Value != "" {
		return f.m.patientToken(id.System, id.Value)
	}
	p := f.resolve(subject)
	if p == nil || p.ResourceType != "Patient" {
		return ""
	}
	var chosen *fhir.Identifier
	for i := range p.Identifier {
		id := &p.Identifier[i]
		if id.Value == "" {
			continue
		}
		if chosen == nil {
			chosen = id
		}
		for _, c := range id.Type.Codes() {
			if c == "MR" {
				return f.m.patientToken(id.System, id.Value)
			}
		}
	}
	if chosen == nil {
		return ""
	}
	return f.m.patientToken(chosen.System, chosen.Value)
}

func (f *fhirMsg) appointment(r *fhir.Resource) ([]event.Event, SkipReason, *event.Error) {
	var typ event.Type
	for _, st := range appointmentStates {
		for _, c := range st.fhir {
			if c == r.Status {
				typ = st.event
			}
		}
	}
	if typ == "" {
		return nil, SkipNoEvent, nil
	}
	sub := serviceRequestOf(r.BasedOn...)
	if sub == "" {
		return nil, SkipNoReferralLink, nil
	}
	if r.ID == "" {
		return nil, "", missing("Appointment.id")
	}
	times := map[event.Type][]string{
		event.AppointmentBooked:    {"created", "meta.lastUpdated"},
		event.AppointmentCancelled: {"meta.lastUpdated", "created"},
		event.AppointmentNoShow:    {"start"},
		event.AppointmentCompleted: {"end", "start"},
	}[typ]
	t, err := f.when(r, times...)
	if err != nil {
		return nil, "", err
	}
	ev := f.base(r, typ, sub, t)
	ev.Data.AppointmentID = r.ID
	if typ == event.AppointmentBooked {
		at, err := f.when(r, "start")
		if err != nil {
			return nil, "", err
		}
		ev.Data.ScheduledFor = at.UTC()
		for _, p := range r.Participant {
			if typ, id := p.Actor.Target(); typ == "Location" {
				ev.Data.LocationID, _ = lookup("location", f.m.cfg.Terminology.Location, false, key{id, "Appointment.participant", true})
				break
			}
		}
		if codes := r.AppointmentType.Codes(); len(codes) > 0 {
			ev.Data.VisitType = codes[0]
		}
	}
	return []event.Event{ev}, "", nil
}

// communication: to the Patient is outreach; a consult note (LOINC 11488-4,
// or a category code naming a consult note) closes the loop; anything else
// to a provider is a status update. The payload is never decoded.
func (f *fhirMsg) communication(r *fhir.Resource) ([]event.Event, SkipReason, *event.Error) {
	if r.Status != "completed" {
		return nil, SkipNoEvent, nil
	}
	sub := serviceRequestOf(r.BasedOn...)
	if sub == "" {
		return nil, SkipNoReferralLink, nil
	}
	typ := event.ReferrerUpdateSent
	if t, _ := firstTarget(r.Recipient, "Patient"); t != "" {
		typ = event.PatientOutreach
	} else {
		for _, c := range r.Category {
			for _, code := range c.Codes() {
				if code == "11488-4" || strings.Contains(strings.ToLower(code), "consult") {
					typ = event.ConsultNoteSent
				}
			}
		}
	}
	evs, sk, err := f.simple(r, typ, sub, "sent", "meta.lastUpdated")
	if typ == event.ConsultNoteSent && len(evs) == 1 {
		evs[0].Data.Channel, evs[0].Data.Recipient = "fhir", f.m.recipientOf(f.noteRecipients(r))
	}
	return evs, sk, err
}

// noteRecipients reads a consult note's Communication.recipient: each
// Practitioner, PractitionerRole or Organization it names. A recipient is
// the requester when the ServiceRequest it is basedOn is in the Bundle and
// names the same provider; a PractitionerRole in the Bundle gives its role
// codes (code).
func (f *fhirMsg) noteRecipients(r *fhir.Resource) []candidate {
	var requester []string // the requester's id (NPI preferred) and literal reference
	for _, b := range r.BasedOn {
		if sr := f.resolve(b); sr != nil && sr.ResourceType == "ServiceRequest" {
			if id, _ := f.requester(sr.Requester); id != "" {
				requester = append(requester, id)
			}
			if sr.Requester.Reference != "" {
				requester = append(requester, sr.Requester.Reference)
			}
		}
	}
	var cs []candidate
	for _, ref := range r.Recipient {
		typ, _ := ref.Target()
		x := f.resolve(ref)
		if x != nil {
			typ = x.ResourceType
		}
		if typ != "Practitioner" && typ != "PractitionerRole" && typ != "Organization" && ref.Identifier.Value == "" {
			continue // a display only, a Patient, a RelatedPerson: no provider
		}
		c := candidate{where: "Communication.recipient"}
		c.id, _ = f.requester(ref)
		c.requester = c.id != "" && slices.Contains(requester, c.id) || ref.Reference != "" && slices.Contains(requester, ref.Reference)
		if x != nil && x.ResourceType == "PractitionerRole" {
			for _, cc := range x.RoleCode {
				c.roles = append(c.roles, cc.Codes()...)
			}
		}
		cs = append(cs, c)
	}
	return cs
}

// claimResponse: the Da Vinci PAS review action (extension reviewAction:
// A1/A2 certified, A3 not certified, A4 pended) decides; without it, outcome
// complete approves, error denies, queued/partial is no decision yet. The
// referral comes from the Claim in the same Bundle.
func (f *fhirMsg) claimResponse(r *fhir.Resource) ([]event.Event, SkipReason, *event.Error) {
	claim := f.resolve(r.Request)
	if claim == nil || claim.ResourceType != "Claim" {
		return nil, SkipNoReferralLink, nil
	}
	sub := serviceRequestOf(claim.Referral)
	if sub == "" {
		return nil, SkipNoReferralLink, nil
	}
	var typ event.Type
	decided := false
	for _, x := range r.Extension {
		if !strings.HasSuffix(x.URL, "reviewAction") {
			continue
		}
		code := x.ValueCode
		if codes := x.ValueCodeableConcept.Codes(); code == "" && len(codes) > 0 {
			code = codes[0]
		}
		if code == "" {
			code = x.ValueCoding.Code
		}
		switch code {
		case "A1", "A2":
			typ, decided = event.ReferralAuthApproved, true
		case "A3":
			typ, decided = event.ReferralAuthDenied, true
		case "A4":
			decided = true
		default:
			return nil, "", &event.Error{Reason: event.ReasonUnmappedCode, Field: "ClaimResponse.extension.reviewAction", Detail: "review action table has no entry for " + quoteCode(code)}
		}
	}
	if !decided {
		switch r.Outcome {
		case "complete":
			typ = event.ReferralAuthApproved
		case "error":
			typ = event.ReferralAuthDenied
		case "queued", "partial":
		case "":
			return nil, "", missing("ClaimResponse.outcome")
		default:
			return nil, "", &event.Error{Reason: event.ReasonUnmappedCode, Field: "ClaimResponse.outcome", Detail: "outcome table has no entry for " + quoteCode(r.Outcome)}
		}
	}
	return f.simple(r, typ, sub, "created", "meta.lastUpdated")
}
