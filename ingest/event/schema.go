package event

import "strings"

// This file is the contract's tables of EVENTS.md: enums, data fields and which
// type carries which field. Decode, validation and Encode all read them, so a
// field is declared once.

// enum is a closed set of values. lookup returns the canonical string, so
// decoded events share these constants instead of allocating a copy each.
type enum struct {
	values []string
	list   string // "a, b, c", for error messages
}

func newEnum(values ...string) *enum {
	return &enum{values: values, list: strings.Join(values, ", ")}
}

func (e *enum) lookup(b []byte) (string, bool) {
	for _, v := range e.values {
		if string(b) == v { // no allocation: the compiler compares in place
			return v, true
		}
	}
	return "", false
}

// The closed sets of EVENTS.md. Service lines are separate because the
// Decoder extends them from Config.
var (
	builtinServiceLines = []string{
		"cardiology", "orthopedics", "oncology", "imaging", "behavioral_health", "womens_health",
		"surgery", "gastroenterology", "physical_therapy", "neurology", "dermatology", "other",
	}
	referrerTypes = newEnum("primary_care", "specialist", "urgent_care", "emergency", "hospital",
		"case_manager", "employer", "community", "self", "other")
	networks         = newEnum("in", "out")
	payerClasses     = newEnum("commercial", "medicare", "medicare_advantage", "medicaid", "self_pay", "other", "unknown")
	priorities       = newEnum("routine", "urgent", "stat")
	referralChannels = newEnum("fax", "ereferral", "portal", "phone", "hl7", "fhir", "other")
	rejectReasons    = newEnum("wrong_fit", "no_capacity", "insurance", "incomplete", "other")
	leakReasons      = newEnum("patient_choice", "access", "payer", "other")
	cancelledBy      = newEnum("patient", "provider", "system")
	noteChannels     = newEnum("fax", "direct", "portal", "hl7", "fhir", "other")
	recipients       = newEnum("referrer", "pcp", "other")
	outcomes         = newEnum("reached", "voicemail", "no_answer", "other")
)

// ServiceLines returns the built-in closed set of service lines (without a
// site's Config.ExtraServiceLines).
func ServiceLines() []string {
	return append([]string(nil), builtinServiceLines...)
}

// Limits of the contract.
const (
	maxIDLen      = 128 // event id, characters
	maxIdentLen   = 128 // identifiers, bytes (they are ASCII)
	maxSourceLen  = 256 // not in EVENTS.md; bounds a LowCardinality column
	maxTextLen    = 256 // free-text reason
	maxVisitType  = 128 // not in EVENTS.md; visit_type is free text
	maxMissing    = 32  // items in `missing`
	maxMissingLen = 128 // characters per item
)

// field names one data field. The order is the order of Data and of the
// encoded `data` object.
type field uint8

const (
	fReferrerID field = iota
	fReferrerOrgID
	fReferrerType
	fReferrerNetwork
	fServiceLine
	fLocationID
	fDestinationNetwork
	fDestinationOrgID
	fPayerClass
	fPriority
	fChannel
	fPatientToken
	fReason
	fMissing
	fAppointmentID
	fScheduledFor
	fVisitType
	fCancelledBy
	fRecipient
	fOutcome
	numFields
)

// fieldNames are the JSON names; fieldPaths the Error.Field names.
var fieldNames, fieldPaths [numFields]string

func init() {
	fieldNames = [numFields]string{
		"referrer_id", "referrer_org_id", "referrer_type", "referrer_network", "service_line",
		"location_id", "destination_network", "destination_org_id", "payer_class", "priority",
		"channel", "patient_token", "reason", "missing", "appointment_id", "scheduled_for",
		"visit_type", "cancelled_by", "recipient", "outcome",
	}
	for i, n := range fieldNames {
		fieldPaths[i] = "data." + n
	}
}

// lookupField maps a JSON key of `data` to its field. A switch on string(key)
// compiles to a length-then-compare search without allocating.
func lookupField(key []byte) (field, bool) {
	switch string(key) {
	case "referrer_id":
		return fReferrerID, true
	case "referrer_org_id":
		return fReferrerOrgID, true
	case "referrer_type":
		return fReferrerType, true
	case "referrer_network":
		return fReferrerNetwork, true
	case "service_line":
		return fServiceLine, true
	case "location_id":
		return fLocationID, true
	case "destination_network":
		return fDestinationNetwork, true
	case "destination_org_id":
		return fDestinationOrgID, true
	case "payer_class":
		return fPayerClass, true
	case "priority":
		return fPriority, true
	case "channel":
		return fChannel, true
	case "patient_token":
		return fPatientToken, true
	case "reason":
		return fReason, true
	case "missing":
		return fMissing, true
	case "appointment_id":
		return fAppointmentID, true
	case "scheduled_for":
		return fScheduledFor, true
	case "visit_type":
		return fVisitType, true
	case "cancelled_by":
		return fCancelledBy, true
	case "recipient":
		return fRecipient, true
	case "outcome":
		return fOutcome, true
	}
	return 0, false
}

// str returns the string field f of d, or nil for the non-string fields
// (missing, scheduled_for).
func (d *Data) str(f field) *string {
	switch f {
	case fReferrerID:
		return &d.ReferrerID
	case fReferrerOrgID:
		return &d.ReferrerOrgID
	case fReferrerType:
		return &d.ReferrerType
	case fReferrerNetwork:
		return &d.ReferrerNetwork
	case fServiceLine:
		return &d.ServiceLine
	case fLocationID:
		return &d.LocationID
	case fDestinationNetwork:
		return &d.DestinationNetwork
	case fDestinationOrgID:
		return &d.DestinationOrgID
	case fPayerClass:
		return &d.PayerClass
	case fPriority:
		return &d.Priority
	case fChannel:
		return &d.Channel
	case fPatientToken:
		return &d.PatientToken
	case fReason:
		return &d.Reason
	case fAppointmentID:
		return &d.AppointmentID
	case fVisitType:
		return &d.VisitType
	case fCancelledBy:
		return &d.CancelledBy
	case fRecipient:
		return &d.Recipient
	case fOutcome:
		return &d.Outcome
	}
	return nil
}

// kind is how a data field's value is checked.
type kind uint8

const (
	kindIdent       kind = iota // identifier: 1–128 of [A-Za-z0-9._:/-]
	kindEnum                    // one of rule.enum
	kindServiceLine             // one of the Decoder's service lines
	kindText                    // free text of at most rule.max characters
	kindTime                    // RFC 3339 with offset
	kindList                    // list of at most maxMissing strings of at most maxMissingLen characters
)

// rule is one data field of one type.
type rule struct {
	field    field
	kind     kind
	required bool
	enum     *enum  // kindEnum
	def      string // value when absent; "" for none
	max      int    // kindText: characters
}

// typeInfo is one event type: its stream and its data fields in the order
// validation checks them (the order of EVENTS.md's table).
type typeInfo struct {
	typ    Type
	stream Stream
	rules  []rule
}

func ident(f field, required bool) rule { return rule{field: f, kind: kindIdent, required: required} }
func oneOf(f field, e *enum, required bool, def string) rule {
	return rule{field: f, kind: kindEnum, enum: e, required: required, def: def}
}
func text(f field, max int) rule { return rule{field: f, kind: kindText, max: max} }

var typeInfos = []typeInfo{
	{ReferralCreated, StreamReferral, []rule{
		ident(fReferrerID, true),
		ident(fReferrerOrgID, false),
		oneOf(fReferrerType, referrerTypes, true, ""),
		oneOf(fReferrerNetwork, networks, true, ""),
		{field: fServiceLine, kind: kindServiceLine, required: true},
		ident(fLocationID, true),
		oneOf(fDestinationNetwork, networks, true, ""),
		oneOf(fPayerClass, payerClasses, false, "unknown"),
		oneOf(fPriority, priorities, false, "routine"),
		oneOf(fChannel, referralChannels, false, ""),
		ident(fPatientToken, false),
	}},
	{ReferralAccepted, StreamReferral, nil},
	{ReferralRejected, StreamReferral, []rule{oneOf(fReason, rejectReasons, false, "")}},
	{ReferralInfoRequested, StreamReferral, []rule{{field: fMissing, kind: kindList}}},
	{ReferralInfoReceived, StreamReferral, nil},
	{ReferralAuthRequested, StreamReferral, nil},
	{ReferralAuthApproved, StreamReferral, nil},
	{ReferralAuthDenied, StreamReferral, []rule{text(fReason, maxTextLen)}},
	{ReferralRedirected, StreamReferral, []rule{
		oneOf(fDestinationNetwork, networks, true, ""),
		ident(fDestinationOrgID, false),
	}},
	{ReferralLeaked, StreamReferral, []rule{oneOf(fReason, leakReasons, false, "")}},
	{ReferralCancelled, StreamReferral, []rule{text(fReason, maxTextLen)}},

	{AppointmentBooked, StreamScheduling, []rule{
		ident(fAppointmentID, true),
		{field: fScheduledFor, kind: kindTime, required: true},
		ident(fLocationID, false),
		text(fVisitType, maxVisitType),
	}},
	{AppointmentRescheduled, StreamScheduling, []rule{
		ident(fAppointmentID, true),
		{field: fScheduledFor, kind: kindTime, required: true},
	}},
	{AppointmentCancelled, StreamScheduling, []rule{
		ident(fAppointmentID, true),
		oneOf(fCancelledBy, cancelledBy, false, ""),
	}},
	{AppointmentNoShow, StreamScheduling, []rule{ident(fAppointmentID, true)}},
	{AppointmentCompleted, StreamScheduling, []rule{ident(fAppointmentID, true)}},

	{ConsultNoteSent, StreamCommunication, []rule{
		oneOf(fChannel, noteChannels, false, ""),
		oneOf(fRecipient, recipients, false, "referrer"),
	}},
	{ReferrerUpdateSent, StreamCommunication, nil},
	{PatientOutreach, StreamCommunication, []rule{oneOf(fOutcome, outcomes, false, "")}},
}

// typeByName indexes typeInfos; lookups with a string([]byte) key do not allocate.
var typeByName = func() map[string]*typeInfo {
	m := make(map[string]*typeInfo, len(typeInfos))
	for i := range typeInfos {
		m[string(typeInfos[i].typ)] = &typeInfos[i]
	}
	return m
}()

// Types returns every event type of the contract, referral stream first, in
// the order of EVENTS.md.
func Types() []Type {
	ts := make([]Type, len(typeInfos))
	for i, ti := range typeInfos {
		ts[i] = ti.typ
	}
	return ts
}

// StreamOf returns the stream (topic family) of t, and false if t is not a
// type of the contract.
func StreamOf(t Type) (Stream, bool) {
	if ti, ok := typeByName[string(t)]; ok {
		return ti.stream, true
	}
	return StreamUnknown, false
}

// Stream returns the stream of t, StreamUnknown if t is not a type of the
// contract.
func (t Type) Stream() Stream {
	s, _ := StreamOf(t)
	return s
}

// String returns "referral", "scheduling", "communication" or "unknown".
func (s Stream) String() string {
	switch s {
	case StreamReferral:
		return "referral"
	case StreamScheduling:
		return "scheduling"
	case StreamCommunication:
		return "communication"
	}
	return "unknown"
}

// enumsByField are the enum fields' closed sets by JSON name.
var enumsByField = map[string]*enum{
	"referrer_type": referrerTypes, "referrer_network": networks, "destination_network": networks,
	"payer_class": payerClasses, "priority": priorities, "channel": referralChannels,
	"reason": rejectReasons, "cancelled_by": cancelledBy, "recipient": recipients, "outcome": outcomes,
}

// EnumValues returns the closed set of the enum data field named by its JSON
// name (e.g. "referrer_type"; "channel" and "reason" give referral.created's
// and referral.rejected's sets), nil for a field that is not an enum. Site
// terminology tables validate their values against it.
func EnumValues(field string) []string {
	if e := enumsByField[field]; e != nil {
		return append([]string(nil), e.values...)
	}
	return nil
}

// ValidServiceLineName reports whether s can be a service line (built-in or
// configured): lowercase letters, digits and _, starting with a letter.
func ValidServiceLineName(s string) bool { return validServiceLineName(s) }
