package mapping

import (
	"slices"
	"strconv"
	"time"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/ingest/hl7v2"
)

// mustPaths parses paths that Config.Validate has checked.
func mustPaths(ss []string) []hl7v2.Path {
	out := make([]hl7v2.Path, 0, len(ss))
	for _, s := range ss {
		p, err := hl7v2.ParsePath(s)
		if err != nil {
			panic("mapping: unvalidated path: " + err.Error())
		}
		out = append(out, p)
	}
	return out
}

// v2msg is one message being mapped, with the helpers every type uses.
type v2msg struct {
	m   *Mapper
	msg *hl7v2.Message
	app string // MSH-3
	fac string // MSH-4
	ctl string // MSH-10
}

func (v *v2msg) get(path string) string {
	p, err := hl7v2.ParsePath(path)
	if err != nil {
		panic("mapping: bad built-in path " + path)
	}
	return v.msg.Get(p)
}

// HL7v2 maps one ER7 message.
func (m *Mapper) HL7v2(b []byte) Outcome {
	if o, ok := tooLarge(b); ok {
		return o
	}
	msg, err := hl7v2.Parse(b)
	if err != nil {
		return dead(&event.Error{Reason: event.ReasonNotHL7v2, Detail: trimSyntax(err)})
	}
	v := &v2msg{m: m, msg: msg}
	v.app, v.fac, v.ctl = v.get("MSH-3.1"), v.get("MSH-4.1"), v.get("MSH-10.1")
	if v.ctl == "" {
		return dead(missing("MSH-10"))
	}
	code, trigger := msg.Type()
	switch code + "^" + trigger {
	case "REF^I12":
		return v.created("RF1")
	case "OMG^O19":
		return v.created("ORC")
	case "REF^I13":
		return v.redirected()
	case "REF^I14":
		return v.referralEvent(event.ReferralCancelled, "RF1")
	case "RRI^I12", "RRI^I13", "RRI^I14":
		s, err := v.state(colRF1, "RF1-1.1", "table 0283")
		if err != nil {
			return dead(err)
		}
		return v.referralEvent(s.event, "RF1")
	case "OSU^O51":
		// ORC-1 says what happened to the order; SC ("status changed") defers to ORC-5.
		if c := v.get("ORC-1.1"); c != "SC" && c != "" {
			s, err := v.state(colORC1, "ORC-1.1", "table 0119")
			if err != nil {
				return dead(err)
			}
			return v.referralEvent(s.event, "ORC")
		}
		s, err := v.state(colORC5, "ORC-5.1", "table 0038")
		if err != nil {
			return dead(err)
		}
		return v.referralEvent(s.event, "ORC")
	case "MDM^T02", "ORU^R01":
		return v.note()
	case "ADT^A04", "ADT^A03":
		return v.visit(trigger)
	}
	if code == "SIU" {
		return v.scheduling(trigger)
	}
	return skip(SkipUnsupportedType)
}

// trimSyntax keeps the parser's rule without repeating the sentinel.
func trimSyntax(err error) string {
	s := err.Error()
	if p := hl7v2.ErrSyntax.Error() + ": "; len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// state reads a code of the state table; a code the table lacks is
// unmapped, an empty one missing.
func (v *v2msg) state(col stateColumn, path, name string) (referralState, *event.Error) {
	c := v.get(path)
	if c == "" {
		return referralState{}, missing(path)
	}
	s, ok := stateOf(col, c)
	if !ok {
		return s, &event.Error{Reason: event.ReasonUnmappedCode, Field: path, Detail: "referral state table (" + name + ") has no entry for " + quoteCode(c)}
	}
	return s, nil
}

// subject is the referral id: RF1-6 (RF1-11 fallback) or ORC-2.
func (v *v2msg) subject(seg string) (string, *event.Error) {
	if seg == "ORC" {
		if s := v.get("ORC-2.1"); s != "" {
			return s, nil
		}
		return "", missing("ORC-2")
	}
	if s := v.get("RF1-6.1"); s != "" {
		return s, nil
	}
	if s := v.get("RF1-11.1"); s != "" {
		return s, nil
	}
	return "", missing("RF1-6")
}

// when is the clinical time of the message: the first non-empty of paths,
// then EVN-2 and MSH-7.
func (v *v2msg) when(paths ...string) (time.Time, *event.Error) {
	for _, p := range append(paths, "EVN-2.1", "MSH-7.1") {
		if s := v.get(p); s != "" {
			t, err := hl7v2.ParseTime(s, v.m.loc)
			if err != nil {
				return t, badTime(p, err)
			}
			return t, nil
		}
	}
	return time.Time{}, missing("MSH-7")
}

func (v *v2msg) base(typ event.Type, subject string, t time.Time) event.Event {
	src := "hl7v2"
	if v.app != "" || v.fac != "" {
		src += "/" + v.app + "/" + v.fac
	}
	return event.Event{
		ID:     eventID("hl7v2-", v.app, v.fac, v.ctl, string(typ)),
		Source: src, Type: typ, Time: t.UTC(), Subject: subject,
	}
}

// referralEvent emits a referral-topic event without data (or skips a state
// that is no event).
func (v *v2msg) referralEvent(typ event.Type, seg string) Outcome {
	if typ == "" {
		return skip(SkipNoEvent)
	}
	sub, err := v.subject(seg)
	if err != nil {
		return dead(err)
	}
	t, err := v.when(timePath(seg)...)
	if err != nil {
		return dead(err)
	}
	return finish([]event.Event{v.base(typ, sub, t)})
}

// timePath: RF1-7 effective date; ORC-9 date/time of transaction.
func timePath(seg string) []string {
	if seg == "ORC" {
		return []string{"ORC-9.1"}
	}
	return []string{"RF1-7.1"}
}

// provider returns the PRD segment of a role (RP referring, RT referred-to).
func (v *v2msg) provider(role string) (hl7v2.Segment, bool) {
	for _, s := range v.msg.All("PRD") {
		for _, r := range s.Field(1).Repetitions() {
			if r.Component(1).String() == role {
				return s, true
			}
		}
	}
	return hl7v2.Segment{}, false
}

// preferNPI returns the id of the repetition whose type (component typeComp)
// is NPI, else the first non-empty id.
func preferNPI(f hl7v2.Value, typeComp int) string {
	first := ""
	for _, r := range f.Repetitions() {
		id := r.Component(1).String()
		if id == "" {
			continue
		}
		if r.Component(typeComp).String() == "NPI" {
			return id
		}
		if first == "" {
			first = id
		}
	}
	return first
}

// orgOf reads an XON organisation id: component 10 (v2.5+), else 3.
func orgOf(f hl7v2.Value) string {
	if s := f.Component(10).String(); s != "" {
		return s
	}
	return f.Component(3).String()
}

// destination is the referred-to organisation and its location codes: PRD
// with role RT, else the receiving facility (MSH-6, as 360X addresses it).
func (v *v2msg) destination() (org string, where string, locKeys []key) {
	if rt, ok := v.provider("RT"); ok {
		org, where = orgOf(rt.Field(10)), "PRD(RT)-10"
		locKeys = []key{
			{rt.Field(4).Component(1).String(), "PRD(RT)-4.1", true},
			{rt.Field(4).Component(4).Subcomponent(1).String(), "PRD(RT)-4.4", true},
		}
	}
	if org == "" {
		org, where = v.get("MSH-6.1"), "MSH-6"
	}
	return org, where, append(locKeys, key{org, where, true})
}

// destinationNetwork maps the destination organisation.
func (v *v2msg) destinationNetwork() (string, string, *event.Error) {
	org, where, _ := v.destination()
	net, err := lookup("network", v.m.cfg.Terminology.Network, true, key{org, where, true})
	return net, org, err
}

// created maps REF^I12 (seg RF1) and 360X OMG^O19 (seg ORC).
func (v *v2msg) created(seg string) Outcome {
	sub, err := v.subject(seg)
	if err != nil {
		return dead(err)
	}
	t, err := v.when(timePath(seg)...)
	if err != nil {
		return dead(err)
	}
	ev := v.base(event.ReferralCreated, sub, t)
	d := &ev.Data
	d.Channel = "hl7"
	terms := &v.m.cfg.Terminology

	var refWhere string
	if seg == "ORC" {
		d.ReferrerID, refWhere = preferNPI(v.firstSeg("ORC").Field(12), 13), "ORC-12"
		if d.ReferrerID == "" {
			d.ReferrerID, refWhere = preferNPI(v.firstSeg("OBR").Field(16), 13), "OBR-16"
		}
		d.ReferrerOrgID = orgOf(v.firstSeg("ORC").Field(21))
	} else if rp, ok := v.provider("RP"); ok {
		d.ReferrerID, refWhere = preferNPI(rp.Field(7), 2), "PRD(RP)-7"
		d.ReferrerOrgID = orgOf(rp.Field(10))
	}
	if d.ReferrerID == "" {
		if seg == "ORC" {
			return dead(missing("ORC-12"))
		}
		return dead(missing("PRD(RP)-7"))
	}
	if d.ReferrerOrgID == "" {
		d.ReferrerOrgID = v.fac // the sending facility is the referring organisation
	}
	refKeys := []key{{d.ReferrerOrgID, "referrer organisation", true}, {d.ReferrerID, refWhere, false}}
	if d.ReferrerType, err = v.m.referrerType(d.ReferrerID, refWhere, d.ReferrerOrgID, "referrer organisation"); err != nil {
		return dead(err)
	}
	if d.ReferrerNetwork, err = lookup("network", terms.Network, true, refKeys...); err != nil {
		return dead(err)
	}

	org, where, locKeys := v.destination()
	d.DestinationOrgID = org
	if d.DestinationNetwork, err = lookup("network", terms.Network, true, key{org, where, true}); err != nil {
		return dead(err)
	}
	if d.LocationID, err = lookup("location", terms.Location, true, locKeys...); err != nil {
		return dead(err)
	}

	svc := []key{{v.get("RF1-3.1"), "RF1-3", true}}
	prio := []key{{v.get("RF1-2.1"), "RF1-2", true}}
	if seg == "ORC" {
		svc = []key{{v.get("OBR-4.1"), "OBR-4", true}}
		prio = []key{{v.get("TQ1-9.1"), "TQ1-9", true}, {v.get("ORC-7.6"), "ORC-7.6", true}}
	}
	if d.ServiceLine, err = lookup("service_line", terms.ServiceLine, true, svc...); err != nil {
		return dead(err)
	}
	d.Priority, _ = lookup("priority", terms.Priority, false, prio...)
	// The plan and company codes pick the class; nothing else of IN1 is read.
	d.PayerClass, _ = lookup("payer_class", terms.PayerClass, false,
		key{v.get("IN1-2.1"), "IN1-2", false}, key{v.get("IN1-3.1"), "IN1-3", false})
	d.PatientToken = v.patientToken()
	return finish([]event.Event{ev})
}

func (v *v2msg) firstSeg(name string) hl7v2.Segment {
	s, _ := v.msg.Segment(name)
	return s
}

// patientToken reads PID-3's MR identifier (else the first) and its
// assigning authority, and returns their keyed hash.
func (v *v2msg) patientToken() string {
	pid, ok := v.msg.Segment("PID")
	if !ok {
		return ""
	}
	var chosen hl7v2.Value
	found := false
	for _, r := range pid.Field(3).Repetitions() {
		if r.Component(1).String() == "" {
			continue
		}
		if !found || r.Component(5).String() == "MR" {
			chosen, found = r, true
			if r.Component(5).String() == "MR" {
				break
			}
		}
	}
	if !found {
		return ""
	}
	auth := chosen.Component(4).Subcomponent(1).String()
	if auth == "" {
		auth = chosen.Component(4).Subcomponent(2).String()
	}
	return v.m.patientToken(auth, chosen.Component(1).String())
}

// redirected maps REF^I13: the referred-to organisation as it now stands.
func (v *v2msg) redirected() Outcome {
	sub, err := v.subject("RF1")
	if err != nil {
		return dead(err)
	}
	t, err := v.when("RF1-7.1")
	if err != nil {
		return dead(err)
	}
	ev := v.base(event.ReferralRedirected, sub, t)
	if ev.Data.DestinationNetwork, ev.Data.DestinationOrgID, err = v.destinationNetwork(); err != nil {
		return dead(err)
	}
	return finish([]event.Event{ev})
}

// linked returns the referral id of a scheduling or note message: the first
// configured link path with a value.
func (v *v2msg) linked(paths []hl7v2.Path) string {
	for _, p := range paths {
		if s := v.msg.Get(p); s != "" {
			return s
		}
	}
	return ""
}

// scheduling maps SIU. SCH-25 Complete/Noshow/Cancelled (table 0278) wins
// over the trigger: a modification can report a visit's end.
func (v *v2msg) scheduling(trigger string) Outcome {
	var typ event.Type
	switch trigger {
	case "S12":
		typ = event.AppointmentBooked
	case "S13", "S14":
		typ = event.AppointmentRescheduled
	case "S15", "S16", "S17":
		typ = event.AppointmentCancelled
	case "S26":
		typ = event.AppointmentNoShow
	}
	status := v.get("SCH-25.1")
	for _, st := range appointmentStates {
		for _, c := range st.sch25 {
			if c == status {
				typ = st.event
			}
		}
	}
	if typ == "" {
		return skip(SkipUnsupportedType)
	}
	sub := v.linked(v.m.link.scheduling)
	if sub == "" {
		return skip(SkipNoReferralLink)
	}
	t, err := v.when()
	if err != nil {
		return dead(err)
	}
	ev := v.base(typ, sub, t)
	d := &ev.Data
	if d.AppointmentID = v.get("SCH-2.1"); d.AppointmentID == "" {
		if d.AppointmentID = v.get("SCH-1.1"); d.AppointmentID == "" {
			return dead(missing("SCH-2"))
		}
	}
	if typ == event.AppointmentBooked || typ == event.AppointmentRescheduled {
		for _, p := range []string{"TQ1-7.1", "SCH-11.4", "AIS-4.1", "AIL-6.1"} {
			if s := v.get(p); s != "" {
				at, err := hl7v2.ParseTime(s, v.m.loc)
				if err != nil {
					return dead(badTime(p, err))
				}
				d.ScheduledFor = at.UTC()
				break
			}
		}
		if d.ScheduledFor.IsZero() {
			return dead(missing("TQ1-7"))
		}
	}
	if typ == event.AppointmentBooked {
		d.LocationID, _ = lookup("location", v.m.cfg.Terminology.Location, false,
			key{v.get("AIL-3.1"), "AIL-3.1", true}, key{v.get("AIL-3.4"), "AIL-3.4", true})
		d.VisitType = v.get("SCH-8.1")
	}
	return finish([]event.Event{ev})
}

// note maps MDM^T02 and ORU^R01 consult notes linked to a referral. The
// note text (OBX-5, TXA content) is never read.
func (v *v2msg) note() Outcome {
	sub := v.linked(v.m.link.note)
	if sub == "" {
		return skip(SkipNoReferralLink)
	}
	t, err := v.when("TXA-4.1", "OBR-22.1")
	if err != nil {
		return dead(err)
	}
	ev := v.base(event.ConsultNoteSent, sub, t)
	ev.Data.Channel, ev.Data.Recipient = "hl7", v.m.recipientOf(v.noteRecipients())
	return finish([]event.Event{ev})
}

// noteRecipients reads whom a note went to: TXA-23 distributed copies (MDM)
// and OBR-28 result copies to (ORU), one recipient per repetition. The
// message names the referral's requester in ORC-12 / OBR-16 (the ordering
// provider of the order the note answers) or a PRD with role RP, and the
// patient's primary care provider in PD1-4 or a PRD with role PP (the PRD's
// role codes go to recipientOf).
func (v *v2msg) noteRecipients() []candidate {
	ids := func(f hl7v2.Value) []string { // every identifier of an XCN field (NPI, local ids)
		var out []string
		for _, r := range f.Repetitions() {
			if id := r.Component(1).String(); id != "" {
				out = append(out, id)
			}
		}
		return out
	}
	requesters := append(ids(v.firstSeg("ORC").Field(12)), ids(v.firstSeg("OBR").Field(16))...)
	pcps := ids(v.firstSeg("PD1").Field(4))
	roles := map[string][]string{} // provider id → PRD role codes
	for _, s := range v.msg.All("PRD") {
		for _, id := range ids(s.Field(7)) {
			for _, r := range s.Field(1).Repetitions() {
				if c := r.Component(1).String(); c != "" {
					roles[id] = append(roles[id], c)
				}
			}
		}
	}
	var cs []candidate
	for _, f := range []struct {
		path string
		val  hl7v2.Value
	}{{"TXA-23", v.firstSeg("TXA").Field(23)}, {"OBR-28", v.firstSeg("OBR").Field(28)}} {
		for _, r := range f.val.Repetitions() {
			id := r.Component(1).String()
			if id == "" {
				continue
			}
			cs = append(cs, candidate{id: id, where: f.path, roles: roles[id],
				requester: slices.Contains(requesters, id), pcp: slices.Contains(pcps, id)})
		}
	}
	return cs
}

// visit maps ADT^A04 (the patient registered for the visit) and A03 (the
// visit ended) of a visit linked to a referral's appointment onto
// appointment.completed; an ADT for an unrelated visit is skipped.
func (v *v2msg) visit(trigger string) Outcome {
	sub, appt := v.linked(v.m.link.visit), v.linked(v.m.link.visitAppointment)
	if sub == "" || appt == "" {
		return skip(SkipNoReferralLink)
	}
	at := "PV1-44.1" // admit date/time
	if trigger == "A03" {
		at = "PV1-45.1" // discharge date/time
	}
	t, err := v.when(at)
	if err != nil {
		return dead(err)
	}
	ev := v.base(event.AppointmentCompleted, sub, t)
	ev.Data.AppointmentID = appt
	return finish([]event.Event{ev})
}

// quoteCode quotes a code for an error, cut like the contract's errors.
func quoteCode(c string) string {
	if len(c) > 32 {
		return strconv.Quote(c[:32]) + "..."
	}
	return strconv.Quote(c)
}
