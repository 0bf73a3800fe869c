package sitefeed

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/referralops/referralops/ingest/event"
)

// obj is a JSON object; encoding/json writes its keys sorted, so a resource
// renders to the same bytes every time.
type obj = map[string]any

const (
	snomed        = "http://snomed.info/sct"
	loinc         = "http://loinc.org"
	npiSystem     = "http://hl7.org/fhir/sid/us-npi"
	localIDSystem = "https://genhosp.example.org/fhir/sid/referrer"
	serviceSystem = "https://genhosp.example.org/fhir/CodeSystem/service-line"
	planSystem    = "https://genhosp.example.org/fhir/CodeSystem/plan"
	visitSystem   = "https://genhosp.example.org/fhir/CodeSystem/visit-type"
)

func (fd *Feed) fhirTime(t time.Time) string { return t.In(fd.loc).Format(time.RFC3339) }

func coding(system, code string) obj {
	return obj{"coding": []obj{{"system": system, "code": code}}}
}

func ref(typ, id string) obj { return obj{"reference": typ + "/" + id} }

// fhir renders e as one resource or a transaction Bundle, or false when FHIR
// R4 carries no such event (see Carries).
func (fd *Feed) fhir(e event.Event, p patient) ([]byte, bool) {
	if !Carries("fhir", e.Type) {
		return nil, false
	}
	ts := fd.fhirTime(e.Time)
	meta := obj{"versionId": controlID(e), "lastUpdated": ts}
	patRef := obj{"reference": "Patient/pat-" + p.mrn, "identifier": obj{"system": mrnSystem, "value": p.mrn}}
	sr := ref("ServiceRequest", e.Subject)
	referral := obj{"coding": []obj{{"system": snomed, "code": "3457005", "display": "Patient referral"}}}
	d := e.Data
	var r obj
	switch e.Type {
	case event.ReferralCreated:
		return fd.referralBundle(e, p, meta, patRef, referral), true
	case event.ReferralCancelled:
		r = obj{"resourceType": "ServiceRequest", "id": e.Subject, "status": "revoked", "intent": "order",
			"category": []obj{referral}, "subject": patRef}
	case event.ReferralAccepted, event.ReferralRejected:
		status := "accepted"
		if e.Type == event.ReferralRejected {
			status = "rejected"
		}
		r = obj{"resourceType": "Task", "id": "task-" + e.Subject, "status": status, "intent": "order",
			"focus": sr, "for": patRef, "owner": ref("Organization", hospital), "lastModified": ts}
	case event.AppointmentBooked:
		r = obj{"resourceType": "Appointment", "id": d.AppointmentID, "status": "booked", "basedOn": []obj{sr},
			"created": ts, "start": fd.fhirTime(d.ScheduledFor), "end": fd.fhirTime(d.ScheduledFor.Add(30 * time.Minute)),
			"appointmentType": coding(visitSystem, d.VisitType),
			"participant":     []obj{{"actor": patRef, "status": "accepted"}, {"actor": ref("Location", d.LocationID), "status": "accepted"}}}
	case event.AppointmentCancelled:
		r = obj{"resourceType": "Appointment", "id": d.AppointmentID, "status": "cancelled", "basedOn": []obj{sr},
			"participant": []obj{{"actor": patRef, "status": "declined"}}}
	case event.AppointmentNoShow:
		// The no-show is recorded at the slot's start, which is when the
		// simulation records it too.
		r = obj{"resourceType": "Appointment", "id": d.AppointmentID, "status": "noshow", "basedOn": []obj{sr},
			"start": ts, "participant": []obj{{"actor": patRef, "status": "accepted"}}}
	case event.AppointmentCompleted:
		r = obj{"resourceType": "Encounter", "id": "enc-" + d.AppointmentID, "status": "finished",
			"class":   obj{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
			"subject": patRef, "basedOn": []obj{sr}, "appointment": []obj{ref("Appointment", d.AppointmentID)},
			"period": obj{"start": fd.fhirTime(e.Time.Add(-30 * time.Minute)), "end": ts}}
	case event.ConsultNoteSent:
		return fd.consultNote(e, p, meta, patRef, sr), true
	case event.ReferrerUpdateSent:
		text := "Update on the referral of " + p.given + " " + p.family + ", " + p.street + "."
		r = obj{"resourceType": "Communication", "id": "comm-" + controlID(e), "status": "completed",
			"category": []obj{coding("http://terminology.hl7.org/CodeSystem/communication-category", "notification")},
			"basedOn":  []obj{sr}, "subject": patRef, "sent": ts,
			"sender": ref("Organization", hospital), "recipient": []obj{{"display": "Referring provider"}},
			"payload": []obj{{"contentString": text}}}
	}
	r["meta"] = meta
	b, err := json.Marshal(r)
	return b, err == nil
}

// Role codes of a consult note's recipient (PractitionerRole.code): the
// referring provider of table 0286 (what the mapping reads as the
// referrer), a SNOMED CT primary care physician and a local care
// coordinator code; SiteConfig puts them in the recipient table.
var recipientRoles = map[string]struct{ system, code string }{
	"referrer": {"http://terminology.hl7.org/CodeSystem/v2-0286", "RP"},
	"pcp":      {snomed, "446050000"},
	"other":    {"https://genhosp.example.org/fhir/CodeSystem/role", "care-coordinator"},
}

// consultNote is a consult note as an EHR sends it: a transaction with the
// Communication and the PractitionerRole of its recipient, whose role code
// says who that is. A referrer the feed has not seen yet (a shuffled
// stream) is named by display only, which reads as the referrer.
func (fd *Feed) consultNote(e event.Event, p patient, meta, patRef, sr obj) []byte {
	ts := fd.fhirTime(e.Time)
	role := e.Data.Recipient
	if role != "pcp" && role != "other" {
		role = "referrer"
	}
	text := p.given + " " + p.family + " (born " + p.birth.Format("2006-01-02") + ") was seen; call " + p.phone + "."
	c := obj{"resourceType": "Communication", "id": "comm-" + controlID(e), "meta": meta, "status": "completed",
		"category": []obj{coding(loinc, "11488-4")}, "basedOn": []obj{sr}, "subject": patRef, "sent": ts,
		"sender": ref("Organization", hospital), "recipient": []obj{{"display": "Referring provider"}},
		"payload": []obj{{"contentString": text}}}
	resources := []obj{c}
	if to := fd.noteRecipient(e, p); to != "" {
		name := strings.Split(referrerName(to), "^")
		roleID := "role-" + to // the requester's PractitionerRole id of the referral for the referrer
		c["recipient"] = []obj{ref("PractitionerRole", roleID)}
		resources = append(resources, obj{"resourceType": "PractitionerRole", "id": roleID,
			"code": []obj{coding(recipientRoles[role].system, recipientRoles[role].code)},
			"practitioner": obj{"reference": "Practitioner/prac-" + to, "identifier": obj{"system": idSystem(to), "value": to},
				"display": "Dr " + name[1] + " " + name[0]}})
	}
	return transaction(resources)
}

// idSystem is the identifier system of a provider id: case managers,
// employers, community organisations and care coordinators have no NPI.
func idSystem(id string) string {
	if strings.Contains(id, "-") {
		return localIDSystem
	}
	return npiSystem
}

// transaction wraps resources in a transaction Bundle that PUTs each.
func transaction(resources []obj) []byte {
	entries := make([]obj, len(resources))
	for i, r := range resources {
		url := r["resourceType"].(string) + "/" + r["id"].(string)
		entries[i] = obj{"fullUrl": "https://genhosp.example.org/fhir/" + url, "resource": r,
			"request": obj{"method": "PUT", "url": url}}
	}
	b, _ := json.Marshal(obj{"resourceType": "Bundle", "type": "transaction", "entry": entries}) // maps of strings always marshal
	return b
}

// referralBundle is a new referral as an EHR sends it: a transaction with the
// ServiceRequest and the Patient, referrer and Coverage it references.
func (fd *Feed) referralBundle(e event.Event, p patient, meta, patRef, referral obj) []byte {
	d := e.Data
	ts := fd.fhirTime(e.Time)
	system := idSystem(d.ReferrerID)
	dest := hospital
	if d.DestinationNetwork == "out" {
		dest = outside
	}
	name := strings.Split(referrerName(d.ReferrerID), "^")
	pracID, roleID := "prac-"+d.ReferrerID, "role-"+d.ReferrerID
	resources := []obj{
		{"resourceType": "Patient", "id": "pat-" + p.mrn,
			"identifier": []obj{{"type": coding("http://terminology.hl7.org/CodeSystem/v2-0203", "MR"), "system": mrnSystem, "value": p.mrn}},
			"name":       []obj{{"family": p.family, "given": []string{p.given}}}, "gender": map[string]string{"F": "female", "M": "male"}[p.sex],
			"birthDate": p.birth.Format("2006-01-02"), "telecom": []obj{{"system": "phone", "value": p.phone}},
			"address": []obj{{"line": []string{p.street}, "city": p.city, "state": "IL", "postalCode": p.zip}}},
		{"resourceType": "Practitioner", "id": pracID, "identifier": []obj{{"system": system, "value": d.ReferrerID}},
			"name": []obj{{"family": name[0], "given": []string{name[1]}, "prefix": []string{"Dr"}}}},
		{"resourceType": "PractitionerRole", "id": roleID, "organization": ref("Organization", d.ReferrerOrgID),
			"practitioner": obj{"reference": "Practitioner/" + pracID, "identifier": obj{"system": system, "value": d.ReferrerID}}},
	}
	s := obj{"resourceType": "ServiceRequest", "id": e.Subject, "meta": meta, "status": "active", "intent": "order",
		"category": []obj{referral}, "code": coding(serviceSystem, serviceLineCodes[d.ServiceLine]),
		"subject": patRef, "authoredOn": ts, "requester": ref("PractitionerRole", roleID),
		"performer": []obj{ref("Organization", dest)}, "locationReference": []obj{ref("Location", d.LocationID)},
		"note": []obj{{"text": "Referral for " + p.given + " " + p.family + ", " + p.street + ", " + p.city}}}
	if d.Priority != "" {
		s["priority"] = d.Priority // FHIR request priority: routine, urgent, stat
	}
	if plan, ok := planCodes[d.PayerClass]; ok {
		covID := "cov-" + e.Subject
		resources = append(resources, obj{"resourceType": "Coverage", "id": covID, "status": "active",
			"type": coding(planSystem, plan), "subscriberId": "MBR-" + p.mrn[3:], "beneficiary": patRef,
			"payor": []obj{ref("Organization", "INS-"+plan)}})
		s["insurance"] = []obj{ref("Coverage", covID)}
	}
	return transaction(append(resources, s))
}
