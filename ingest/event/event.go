package event

import "time"

// Type is a CloudEvents `type` of the contract.
type Type string

// The event types of EVENTS.md, by topic.
const (
	ReferralCreated       Type = "referral.created"
	ReferralAccepted      Type = "referral.accepted"
	ReferralRejected      Type = "referral.rejected"
	ReferralInfoRequested Type = "referral.info_requested"
	ReferralInfoReceived  Type = "referral.info_received"
	ReferralAuthRequested Type = "referral.auth_requested"
	ReferralAuthApproved  Type = "referral.auth_approved"
	ReferralAuthDenied    Type = "referral.auth_denied"
	ReferralRedirected    Type = "referral.redirected"
	ReferralLeaked        Type = "referral.leaked"
	ReferralCancelled     Type = "referral.cancelled"

	AppointmentBooked      Type = "appointment.booked"
	AppointmentRescheduled Type = "appointment.rescheduled"
	AppointmentCancelled   Type = "appointment.cancelled"
	AppointmentNoShow      Type = "appointment.no_show"
	AppointmentCompleted   Type = "appointment.completed"

	ConsultNoteSent    Type = "communication.consult_note_sent"
	ReferrerUpdateSent Type = "communication.referrer_update_sent"
	PatientOutreach    Type = "communication.patient_outreach"
)

// Stream is the topic family an event type belongs to.
type Stream int

// The three input streams; each has its own topic.
const (
	StreamReferral Stream = iota
	StreamScheduling
	StreamCommunication

	// StreamUnknown is the stream of a type outside the contract.
	StreamUnknown Stream = -1
)

// Event is one validated event about one referral. Times are UTC.
// Data fields that a type does not carry are zero.
type Event struct {
	ID      string
	Source  string
	Type    Type
	Time    time.Time
	Subject string // the referral id
	Data    Data
}

// Data holds the union of every type's data fields, flattened the way the
// ClickHouse `events` table stores them. Unknown fields are dropped on decode.
type Data struct {
	// referral.created (and redirected: DestinationNetwork, DestinationOrgID)
	ReferrerID         string
	ReferrerOrgID      string
	ReferrerType       string
	ReferrerNetwork    string
	ServiceLine        string
	LocationID         string // also appointment.booked
	DestinationNetwork string
	DestinationOrgID   string
	PayerClass         string
	Priority           string
	Channel            string // referral.created and communication.consult_note_sent, each with its own enum
	PatientToken       string

	Reason  string   // rejected, auth_denied, leaked, cancelled
	Missing []string // info_requested

	AppointmentID string
	ScheduledFor  time.Time // booked, rescheduled
	VisitType     string
	CancelledBy   string // appointment.cancelled

	Recipient string // consult_note_sent
	Outcome   string // patient_outreach
}

// Header is one Kafka record header, independent of the Kafka client. Binary
// mode carries the CloudEvents attributes in headers.
type Header struct {
	Key   string
	Value []byte
}
