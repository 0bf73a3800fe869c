package sitefeed

import (
	"strings"
	"time"

	"github.com/referralops/referralops/ingest/event"
)

// Codes the simulated hospital's systems send; docs/examples/site-config.yaml
// maps them back onto the contract's values.
var (
	serviceLineCodes = map[string]string{
		"cardiology": "CARD", "orthopedics": "ORTHO", "oncology": "ONC", "imaging": "RAD",
		"behavioral_health": "PSY", "womens_health": "OBGYN", "surgery": "SURG", "gastroenterology": "GI",
		"physical_therapy": "PT", "neurology": "NEURO", "dermatology": "DERM", "other": "Med",
	}
	priorityCodes = map[string]string{"routine": "R", "urgent": "A", "stat": "S"} // table 0280
	// Insurance plan ids (IN1-2) and FHIR Coverage.type codes; unknown sends none.
	planCodes = map[string]string{
		"commercial": "COMM-PPO", "medicare": "MCARE", "medicare_advantage": "MA-HMO",
		"medicaid": "MCAID", "self_pay": "SELF", "other": "WC",
	}
)

// Organisations of the simulated hospital: the receiving facility of every
// referral it takes, and where referrals it does not take are sent.
const (
	hospital = "GENHOSP"
	outside  = "OUTSIDE"
)

// hl7Time formats a DTM in the site's zone with its offset.
func (fd *Feed) hl7Time(t time.Time) string {
	return t.In(fd.loc).Format("20060102150405-0700")
}

// hl7v2 renders e as one ER7 message (segments ended by \r), or false when
// HL7 v2 carries no such event.
func (fd *Feed) hl7v2(e event.Event, p patient) ([]byte, bool) {
	if !Carries("hl7v2", e.Type) {
		return nil, false
	}
	ts := fd.hl7Time(e.Time)
	ctl := controlID(e)
	var segs []string
	msh := func(app, fac, typ string) {
		segs = append(segs, "MSH|^~\\&|"+app+"|"+fac+"|REFOPS|"+hospital+"|"+ts+"||"+typ+"|"+ctl+"|P|2.5.1|||AL|NE")
	}
	pid := "PID|1||" + p.mrn + "^^^" + mrnAuthority + "^MR||" + p.family + "^" + p.given + "||" +
		p.birth.Format("20060102") + "|" + p.sex + "|||" + p.street + "^^" + p.city + "^IL^" + p.zip + "||" + p.phone
	rf1 := func(status string) string {
		return "RF1|" + status + "||||O^Outpatient|" + e.Subject + "^REFAPP|" + ts
	}
	d := e.Data
	switch e.Type {
	case event.ReferralCreated:
		msh("REFAPP", d.ReferrerOrgID, "REF^I12^REF_I12")
		segs = append(segs, "EVN|I12|"+ts, pid)
		if plan, ok := planCodes[d.PayerClass]; ok {
			segs = append(segs, "IN1|1|"+plan+"|INS-"+plan+"|Simulated Mutual|1 Insurer Plaza^^Chicago^IL^60601|||||||||||"+
				p.family+"^"+p.given+"|SEL|"+p.birth.Format("20060102")+"|||||||||||||||||||MBR-"+p.mrn[3:])
		}
		dest := hospital
		if d.DestinationNetwork == "out" {
			dest = outside
		}
		segs = append(segs,
			"RF1|P^Pending^HL70283|"+priorityCodes[d.Priority]+"|"+serviceLineCodes[d.ServiceLine]+"|CON|O^Outpatient|"+e.Subject+"^REFAPP|"+ts,
			segment("PRD", 1, "RP^Referring Provider^HL70286", 2, referrerName(d.ReferrerID), 5, "(312)555-0100",
				7, d.ReferrerID+"^"+idType(d.ReferrerID), 10, "^^^^^^^^^"+d.ReferrerOrgID),
			segment("PRD", 1, "RT^Referred to Provider^HL70286", 2, "INTAKE^TEAM", 4, d.LocationID+"^^^"+dest, 10, "^^^^^^^^^"+dest),
			"DG1|1||R69^Illness, unspecified^I10")
	case event.ReferralAccepted, event.ReferralRejected:
		status := "A^Accepted^HL70283"
		if e.Type == event.ReferralRejected {
			status = "R^Rejected^HL70283"
		}
		msh("REFOPS", hospital, "RRI^I12^RRI_I12")
		segs = append(segs, "MSA|AA|"+ctl, rf1(status), pid)
	case event.ReferralCancelled:
		msh("REFAPP", hospital, "REF^I14^REF_I12")
		segs = append(segs, "EVN|I14|"+ts, pid, rf1("E^Expired^HL70283"))
	case event.ReferralRedirected:
		msh("REFAPP", hospital, "REF^I13^REF_I12")
		segs = append(segs, "EVN|I13|"+ts, pid, rf1("P^Pending^HL70283"),
			segment("PRD", 1, "RT^Referred to Provider^HL70286", 2, "INTAKE^TEAM", 10, "^^^^^^^^^"+d.DestinationOrgID))
	case event.AppointmentBooked, event.AppointmentRescheduled, event.AppointmentCancelled,
		event.AppointmentNoShow, event.AppointmentCompleted:
		trigger, status := siuTrigger(e.Type)
		msh("SCHED", hospital, "SIU^"+trigger+"^SIU_S12")
		slot := ""
		if !d.ScheduledFor.IsZero() {
			slot = fd.hl7Time(d.ScheduledFor)
		}
		segs = append(segs, "EVN|"+trigger+"|"+ts,
			"SCH|"+d.AppointmentID+"^SCHED|"+d.AppointmentID+"^SCHED|||||CONSULT^Consult|"+d.VisitType+"|30|min|^^30^"+slot+
				"||||||||||||||"+status+"|"+e.Subject+"^REFAPP")
		if slot != "" {
			segs = append(segs, "TQ1|1||||||"+slot)
		}
		segs = append(segs, pid)
		if d.LocationID != "" {
			segs = append(segs, "AIL|1||"+d.LocationID+"^^^"+hospital)
		}
	case event.ConsultNoteSent:
		msh("CARDEHR", hospital, "MDM^T02^MDM_T02")
		// PD1-4 names the patient's PCP; ORC-12 the ordering provider of
		// the referral the note answers; TXA-23 whom the note was sent to.
		// A referrer the feed has not seen yet (a shuffled stream) is left
		// out: no recipient reads as the referrer.
		segs = append(segs, "EVN|T02|"+ts, pid, segment("PD1", 4, xcn(p.pcp)), "PV1|1|O")
		referrer, to := fd.referrers[e.Subject], fd.noteRecipient(e, p)
		if referrer != "" {
			segs = append(segs, segment("ORC", 1, "RE", 2, e.Subject+"^REFAPP", 12, xcn(referrer)))
		}
		txa := []any{1, "1", 2, "CN^Consult note", 3, "TX", 4, ts, 12, "DOC-" + ctl, 14, e.Subject, 17, "AU"}
		if to != "" {
			txa = append(txa, 23, xcn(to))
		}
		segs = append(segs, segment("TXA", txa...),
			"OBX|1|TX|11488-4^Consult note^LN||"+p.given+" "+p.family+" (born "+p.birth.Format("2006-01-02")+
				") was seen; please call "+p.phone+" with questions.")
	}
	return []byte(strings.Join(segs, "\r") + "\r"), true
}

// segment builds a segment from (field number, value) pairs, leaving the
// fields between empty: positions, not pipe counting, say where a value goes.
func segment(name string, fields ...any) string {
	var out []string
	for i := 0; i+1 < len(fields); i += 2 {
		n, v := fields[i].(int), fields[i+1].(string)
		for len(out) < n {
			out = append(out, "")
		}
		out[n-1] = v
	}
	return name + "|" + strings.Join(out, "|")
}

// siuTrigger is the SIU trigger event and SCH-25 filler status (table 0278)
// of a scheduling event.
func siuTrigger(t event.Type) (trigger, status string) {
	switch t {
	case event.AppointmentRescheduled:
		return "S13", "Booked"
	case event.AppointmentCancelled:
		return "S15", "Cancelled"
	case event.AppointmentNoShow:
		return "S26", "Noshow"
	case event.AppointmentCompleted:
		return "S14", "Complete"
	}
	return "S12", "Booked"
}

// idType is the HL7 identifier type (table 0203) of a provider id: case
// managers, employers, community organisations and care coordinators have no
// NPI.
func idType(id string) string {
	if strings.Contains(id, "-") {
		return "PI"
	}
	return "NPI"
}

// xcn is a provider as an XCN field: id, fake name, identifier type (XCN-13).
func xcn(id string) string {
	return id + "^" + referrerName(id) + "^^^^^^^" + idType(id)
}

// noteRecipient is the provider a consult note goes to: the patient's PCP,
// a care coordinator, else the referral's referrer ("" when not yet seen).
func (fd *Feed) noteRecipient(e event.Event, p patient) string {
	switch e.Data.Recipient {
	case "pcp":
		return p.pcp
	case "other":
		return p.coordinator
	}
	return fd.referrers[e.Subject]
}

// referrerName is a fake name for a referring provider (XCN family^given).
func referrerName(id string) string {
	h := 0
	for i := 0; i < len(id); i++ {
		h = h*31 + int(id[i])
	}
	h &= 0xffff
	return familyNames[h%len(familyNames)] + "^" + givenNames[(h/16)%len(givenNames)] + "^^^DR"
}
