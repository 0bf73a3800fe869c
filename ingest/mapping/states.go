package mapping

import (
	"slices"
	"strings"

	"github.com/referralops/referralops/ingest/event"
)

// referralState is one state of a referral as the standards name it, with
// the event it becomes. It is the single table of referral states: HL7 v2
// REF/RRI (table 0283), 360X's OSU (ORC-1 order control, ORC-5 order status,
// table 0038), FHIR ServiceRequest.status, Task.status and the BSeR/360X
// Task.businessStatus all read it.
type referralState struct {
	name  string
	event event.Type // "" when the state is no event of the contract
	rf1   []string   // RF1-1, table 0283
	orc1  []string   // ORC-1, table 0119 (OSU^O51)
	orc5  []string   // ORC-5, table 0038 (OSU^O51)
	sr    []string   // ServiceRequest.status
	task  []string   // Task.status
	bser  []string   // Task.businessStatus code or its 360X state name, case-insensitive
}

var referralStates = []referralState{
	{name: "requested", event: event.ReferralCreated,
		sr: []string{"active"}},
	{name: "pending", // received, not decided: no event
		rf1: []string{"P"}, orc5: []string{"HD"}, sr: []string{"draft", "on-hold"},
		task: []string{"draft", "requested", "received", "ready", "on-hold"}, bser: []string{"received", "pending"}},
	{name: "accepted", event: event.ReferralAccepted,
		rf1: []string{"A"}, orc1: []string{"OK"}, orc5: []string{"IP", "SC"},
		task: []string{"accepted", "in-progress"}, bser: []string{"accepted", "referral accepted", "appointment scheduled"}},
	{name: "rejected", event: event.ReferralRejected,
		rf1: []string{"R"}, orc1: []string{"UA"},
		task: []string{"rejected"}, bser: []string{"rejected", "declined", "referral declined", "referral rejected"}},
	{name: "cancelled", event: event.ReferralCancelled,
		rf1: []string{"E"}, orc1: []string{"CA", "CR", "OC", "DC"}, orc5: []string{"CA", "DC"}, sr: []string{"revoked"},
		task: []string{"cancelled", "failed"}, bser: []string{"cancelled", "canceled", "referral canceled", "referral cancelled"}},
	{name: "completed", // the loop closes with the consult note, not with this state
		orc5: []string{"CM"}, sr: []string{"completed"}, task: []string{"completed"}, bser: []string{"completed", "referral completed"}},
}

// stateColumn picks one column of the table.
type stateColumn func(referralState) []string

var (
	colRF1  stateColumn = func(s referralState) []string { return s.rf1 }
	colORC1 stateColumn = func(s referralState) []string { return s.orc1 }
	colORC5 stateColumn = func(s referralState) []string { return s.orc5 }
	colSR   stateColumn = func(s referralState) []string { return s.sr }
	colTask stateColumn = func(s referralState) []string { return s.task }
)

// stateOf finds code in a column; ok is false for a code the table lacks.
func stateOf(col stateColumn, code string) (referralState, bool) {
	for _, s := range referralStates {
		if slices.Contains(col(s), code) {
			return s, true
		}
	}
	return referralState{}, false
}

// stateOfBusinessStatus matches BSeR/360X business status codes.
func stateOfBusinessStatus(code string) (referralState, bool) {
	code = strings.ToLower(strings.TrimSpace(code))
	for _, s := range referralStates {
		if slices.Contains(s.bser, code) {
			return s, true
		}
	}
	return referralState{}, false
}

// appointmentStates maps FHIR Appointment.status and HL7 v2 SCH-25 filler
// status (table 0278) onto scheduling events; the other statuses (proposed,
// pending, arrived, checked-in, waitlist; Pending, Waitlist, Started) are no
// event.
var appointmentStates = []struct {
	event event.Type
	fhir  []string
	sch25 []string
}{
	{event.AppointmentBooked, []string{"booked"}, nil},
	{event.AppointmentCancelled, []string{"cancelled"}, []string{"Cancelled", "Deleted", "Dc"}},
	{event.AppointmentNoShow, []string{"noshow"}, []string{"Noshow"}},
	{event.AppointmentCompleted, []string{"fulfilled"}, []string{"Complete"}},
}
