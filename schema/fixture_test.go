package schema_test

import (
	"time"

	"github.com/referralops/referralops/schema"
)

func ts(s string) time.Time {
	t, err := time.Parse(time.DateTime, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// ev is an event row with the Kafka bookkeeping filled in.
func ev(id, typ, at, referral string, set ...func(*row)) row {
	r := row{
		EventID: id, EventType: typ, EventTime: ts(at), ReferralID: referral, Source: "epic/test",
		Topic: "referral-events", Offset: 1, IngestedAt: ts("2026-04-01 00:00:00"),
	}
	for _, f := range set {
		f(&r)
	}
	return r
}

type dims struct {
	serviceLine, location, referrer, org, referrerType, referrerNetwork, dest, payer, priority, channel string
}

func created(d dims) func(*row) {
	return func(r *row) {
		r.ServiceLine, r.LocationID, r.ReferrerID, r.ReferrerOrgID = d.serviceLine, d.location, d.referrer, d.org
		r.ReferrerType, r.ReferrerNetwork, r.DestinationNetwork = d.referrerType, d.referrerNetwork, d.dest
		r.PayerClass, r.Priority, r.Channel, r.PatientToken = d.payer, d.priority, d.channel, "tok-"+d.referrer
	}
}

func dest(network, org string) func(*row) {
	return func(r *row) { r.DestinationNetwork, r.DestinationOrgID = network, org }
}

func appt(id string, slot string) func(*row) {
	return func(r *row) {
		r.AppointmentID, r.Topic = id, "scheduling-events"
		if slot != "" {
			r.ScheduledFor = ts(slot)
		}
	}
}

func reason(s string) func(*row) { return func(r *row) { r.Reason = s } }

var (
	dimsR1  = dims{"cardiology", "LOC-A", "NPI-1", "ORG-1", "primary_care", "in", "in", "commercial", "routine", "fax"}
	dimsR2a = dims{"surgery", "LOC-C", "NPI-2", "ORG-2", "specialist", "out", "in", "medicare", "urgent", "ereferral"}
	dimsR2b = dims{"orthopedics", "LOC-B", "NPI-2", "ORG-2", "specialist", "out", "in", "medicare", "urgent", "ereferral"}
	dimsR3  = dims{"imaging", "LOC-A", "NPI-3", "ORG-3", "urgent_care", "in", "in", "medicaid", "routine", "portal"}
	dimsR3b = dims{"oncology", "LOC-D", "NPI-3", "ORG-3", "urgent_care", "in", "in", "medicaid", "routine", "portal"}
	dimsR5  = dims{"neurology", "LOC-A", "NPI-5", "ORG-5", "self", "out", "in", "unknown", "routine", "phone"}
)

// fixture is a hand-checked set of events; asOf* are the times it is read at.
var (
	asOf      = ts("2026-03-31 12:00:00")
	asOfEarly = ts("2026-03-06 12:00:00")
	asOfFirst = ts("2026-03-03 12:00:00")

	fixture = []row{
		// R1: redirected out and back in; A1 booked, rescheduled, cancelled beside
		// A2 booked and kept; a consult note before the visit and one after.
		ev("e101", "referral.created", "2026-03-02 09:00:00", "R1", created(dimsR1)),
		ev("e102", "referral.redirected", "2026-03-03 10:00:00", "R1", dest("out", "EXT-9")),
		ev("e103", "referral.redirected", "2026-03-04 11:00:00", "R1", dest("in", "ORG-2")),
		ev("e104", "appointment.booked", "2026-03-05 08:00:00", "R1", appt("A1", "2026-03-20 09:00:00")),
		ev("e105", "appointment.rescheduled", "2026-03-06 08:00:00", "R1", appt("A1", "2026-03-25 09:00:00")),
		ev("e106", "appointment.cancelled", "2026-03-07 08:00:00", "R1", appt("A1", "")),
		ev("e107", "appointment.booked", "2026-03-07 08:30:00", "R1", appt("A2", "2026-03-22 10:00:00")),
		ev("e108", "communication.consult_note_sent", "2026-03-10 12:00:00", "R1"),
		ev("e109", "appointment.completed", "2026-03-22 11:00:00", "R1", appt("A2", "")),
		ev("e110", "communication.consult_note_sent", "2026-03-24 15:00:00", "R1"),

		// R2: same-timestamp events. Two referral.created at one second (the
		// smaller event id gives the dimensions); a redirect out at that same
		// second (a redirect wins the tie); A3 completed and no_show at one second
		// (completed wins); A4 booked and cancelled at one second (cancelled wins);
		// a consult note at the second of completion closes the loop.
		ev("e201", "referral.created", "2026-03-10 10:00:00", "R2", created(dimsR2b)),
		ev("e200", "referral.created", "2026-03-10 10:00:00", "R2", created(dimsR2a)),
		ev("e206", "referral.redirected", "2026-03-10 10:00:00", "R2", dest("out", "EXT-1")),
		ev("e202", "appointment.booked", "2026-03-11 09:00:00", "R2", appt("A3", "2026-03-18 09:00:00")),
		ev("e203", "appointment.completed", "2026-03-18 10:00:00", "R2", appt("A3", "")),
		ev("e204", "appointment.no_show", "2026-03-18 10:00:00", "R2", appt("A3", "")),
		ev("e207", "appointment.booked", "2026-03-12 09:00:00", "R2", appt("A4", "2026-03-15 09:00:00")),
		ev("e208", "appointment.cancelled", "2026-03-12 09:00:00", "R2", appt("A4", "")),
		ev("e205", "communication.consult_note_sent", "2026-03-18 10:00:00", "R2"),

		// R3: a second, later referral.created (dimensions stay the first's); info
		// requested; leaked while in-network; cancelled; a booking after T.
		ev("e301", "referral.created", "2026-03-20 08:00:00", "R3", created(dimsR3)),
		ev("e300", "referral.created", "2026-03-22 08:00:00", "R3", created(dimsR3b)),
		ev("e302", "referral.info_requested", "2026-03-21 08:00:00", "R3", func(r *row) { r.Missing = []string{"insurance_card", "notes"} }),
		ev("e303", "referral.leaked", "2026-03-25 08:00:00", "R3", reason("patient_choice")),
		ev("e304", "referral.cancelled", "2026-03-26 08:00:00", "R3", reason("other")),
		ev("e305", "appointment.booked", "2026-04-02 08:00:00", "R3", appt("A6", "2026-04-10 08:00:00")),

		// R4: a booking before T whose referral.created comes after T.
		ev("e401", "appointment.booked", "2026-03-15 08:00:00", "R4", appt("A5", "2026-03-29 09:00:00")),
		ev("e402", "referral.created", "2026-04-01 08:00:00", "R4", created(dimsR5)),

		// R5: everything after T.
		ev("e501", "referral.created", "2026-04-05 08:00:00", "R5", created(dimsR5)),
	}
)

func withDims(f schema.ReferralFact, d dims) schema.ReferralFact {
	f.ServiceLine, f.LocationID, f.ReferrerID, f.ReferrerOrgID = d.serviceLine, d.location, d.referrer, d.org
	f.ReferrerType, f.ReferrerNetwork, f.PayerClass, f.Priority, f.Channel = d.referrerType, d.referrerNetwork, d.payer, d.priority, d.channel
	return f
}

// wantFacts are the fixture's facts, computed by hand from KPIS.md.
var wantFacts = map[time.Time][]schema.ReferralFact{
	asOf: {
		withDims(schema.ReferralFact{
			ReferralID: "R1", CreatedAt: ts("2026-03-02 09:00:00"), DestinationNetwork: "in",
			FirstBookedAt:    ts("2026-03-05 08:00:00"),
			AccessAt:         ts("2026-03-22 10:00:00"), // A1 cancelled; A2's slot
			FirstCompletedAt: ts("2026-03-22 11:00:00"),
			LoopClosedAt:     ts("2026-03-24 15:00:00"), // not the 03-10 note before the visit
		}, dimsR1),
		withDims(schema.ReferralFact{
			ReferralID: "R2", CreatedAt: ts("2026-03-10 10:00:00"), DestinationNetwork: "out", Leaked: true,
			FirstBookedAt:    ts("2026-03-11 09:00:00"),
			AccessAt:         ts("2026-03-18 09:00:00"), // A3 completed (not no_show); A4 cancelled
			FirstCompletedAt: ts("2026-03-18 10:00:00"),
			LoopClosedAt:     ts("2026-03-18 10:00:00"),
		}, dimsR2a),
		withDims(schema.ReferralFact{
			ReferralID: "R3", CreatedAt: ts("2026-03-20 08:00:00"), DestinationNetwork: "in", Leaked: true,
			Closed: true, InfoRequestedAt: ts("2026-03-21 08:00:00"),
		}, dimsR3),
		{
			ReferralID: "R4", FirstBookedAt: ts("2026-03-15 08:00:00"), AccessAt: ts("2026-03-29 09:00:00"),
		},
	},
	asOfEarly: {
		withDims(schema.ReferralFact{
			ReferralID: "R1", CreatedAt: ts("2026-03-02 09:00:00"), DestinationNetwork: "in",
			FirstBookedAt: ts("2026-03-05 08:00:00"),
			AccessAt:      ts("2026-03-25 09:00:00"), // A1 rescheduled at 03-06 08:00, not yet cancelled
		}, dimsR1),
	},
	asOfFirst: {
		withDims(schema.ReferralFact{
			ReferralID: "R1", CreatedAt: ts("2026-03-02 09:00:00"), DestinationNetwork: "out", Leaked: true,
		}, dimsR1),
	},
}
