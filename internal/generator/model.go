package generator

import "math"

// The model's parameters, calibrated to the benchmarks in KPIS.md ("Realistic
// shapes for synthetic data"). Probabilities are per referral unless noted.

// serviceLine is one of EVENTS.md's twelve lines with its share of volume and
// its access: mean days from referral to a new-patient appointment (AMN/Merritt
// Hawkins 2025; all specialties 31). Time to appointment is log-normal with
// σ = ttaSigma, so its median is mean / exp(σ²/2).
type serviceLine struct {
	name      string
	weight    float64
	meanDays  float64
	authShare float64 // probability an insured referral needs prior authorization
}

var serviceLines = [...]serviceLine{
	{"cardiology", 11, 33, 0.55},
	{"orthopedics", 14, 12, 0.50},
	{"oncology", 7, 31, 0.70},
	{"imaging", 14, 31, 0.80},
	{"behavioral_health", 8, 31, 0.20},
	{"womens_health", 8, 41.8, 0.10},
	{"surgery", 8, 31, 0.75},
	{"gastroenterology", 8, 40, 0.45},
	{"physical_therapy", 9, 31, 0.40},
	{"neurology", 6, 31, 0.35},
	{"dermatology", 5, 36.5, 0.05},
	{"other", 2, 31, 0.20},
}

const (
	ttaSigma       = 0.8
	allLinesMean   = 31.0
	numLocations   = 20
	locationZipfS  = 1.0 // site volume ∝ 1/rank^s
	homeLocShare   = 0.7 // referrals a referrer sends to its usual site
	primaryLineP   = 0.5 // referrals a referrer sends to its usual service line
	paretoAlpha    = 1.3 // referrer volume weights: Pareto, top 10% ≈ 60% of volume
	paretoCap      = 400 // no single referrer above this weight (×minimum)
	referralsPerRf = 10  // referrals per referrer in the population
	fadingShare    = 0.15
	newShare       = 0.10
	selfShare      = 0.04 // self-referrals, which have no referring provider
)

// referrerType is EVENTS.md's referrer_type with its share of referrers, the
// chance it is in network (employed/affiliated), how often its patients leak
// when it is in and out of network, and its usual channel.
type referrerType struct {
	name             string
	weight           float64
	inNetwork        float64
	leakIn, leakOut  float64
	urgentMultiplier float64
	channels         [numChannels]float64
}

// Channels of referral.created, in EVENTS.md order.
var channels = [...]string{"fax", "ereferral", "portal", "phone", "hl7", "fhir", "other"}

const numChannels = len(channels)

const (
	chFax = iota
	chEreferral
	chPortal
	chPhone
)

var (
	chProvider  = [numChannels]float64{30, 35, 5, 8, 10, 10, 2}
	chFacility  = [numChannels]float64{35, 20, 3, 12, 18, 10, 2}
	chCommunity = [numChannels]float64{50, 10, 10, 25, 0, 0, 5}
)

var referrerTypes = [...]referrerType{
	{"primary_care", 46, 0.55, 0.17, 0.47, 1, chProvider},
	{"specialist", 18, 0.50, 0.15, 0.45, 1, chProvider},
	{"urgent_care", 8, 0.35, 0.23, 0.53, 1.5, chFacility},
	{"emergency", 6, 0.65, 0.21, 0.50, 3, chFacility},
	{"hospital", 6, 0.60, 0.15, 0.45, 2, chFacility},
	{"case_manager", 6, 0.50, 0.13, 0.40, 1, chCommunity},
	{"employer", 3, 0.20, 0.27, 0.57, 0.5, chCommunity},
	{"community", 4, 0.30, 0.21, 0.50, 0.8, chCommunity},
	{"other", 3, 0.30, 0.21, 0.50, 1, chCommunity},
}

// The self referrer type is not in the population: self-referrals come from
// patients through the portal or the phone and have their own referrer ids.
const selfLeak = 0.35

var (
	payers      = [...]string{"commercial", "medicare", "medicare_advantage", "medicaid", "self_pay", "other", "unknown"}
	payerWeight = [...]float64{44, 20, 16, 14, 3, 2, 1}
	// Prior-authorization need by payer (scaled by the service line's authShare).
	payerAuth = [...]float64{1, 0.2, 1.2, 1, 0, 0.7, 0}
	// Authorization denial probability per decision (MA 2023 ≈ 6.4% overall,
	// Medicare Advantage more).
	payerDenial = [...]float64{0.045, 0.035, 0.11, 0.06, 0, 0.05, 0}
	// No-show multiplier.
	payerNoShow = [...]float64{0.85, 0.9, 0.95, 1.5, 1.4, 1, 1.1}
)

const (
	omitPayerP    = 0.03 // payer_class left out (defaults to unknown)
	omitPriorityP = 0.25 // priority left out of routine referrals (defaults to routine)
)

var (
	priorities      = [...]string{"routine", "urgent", "stat"}
	priorityWeight  = [...]float64{80, 16, 4}
	priorityTTA     = [...]float64{1, 0.35, 0.08} // time-to-appointment factor
	priorityTriage  = [...]float64{10, 2, 0.5}    // median hours to triage
	priorityBook    = [...]float64{1.0, 0.3, 0.1} // median days from ready to booked
	priorityMinLead = [...]int64{day, 4 * hour, hour}
)

const (
	prRoutine = 0
	prStat    = 2
)

// Triage and intake.
const (
	incompleteP      = 0.075 // base; scaled by channel
	infoReceivedP    = 0.82
	rejectP          = 0.03
	acceptedEventP   = 0.93 // accepted referrals with an explicit referral.accepted
	createdOutInP    = 0.03 // non-leaked referrals first routed out, then redirected in
	outAndBackP      = 0.03 // non-leaked referrals redirected out, then back in
	preBookCancelP   = 0.02
	outreachReachedP = 0.6 // bookings preceded by calls to the patient
	unreachableP     = 0.035
	appealP          = 0.5 // denied authorizations re-requested
	leakAtCreateP    = 0.35
	leakRedirectP    = 0.35 // the rest of leaked referrals leak by claims
	claimsLeakBookP  = 0.6  // claims-leaked referrals that booked first
	claimsLagMedianD = 12.0
)

// Channel factor on the incomplete probability: fax and phone intake lose
// information, structured interfaces less so.
var channelIncomplete = [numChannels]float64{1.5, 0.8, 1.1, 1.3, 0.6, 0.5, 1}

// Appointments.
const (
	rescheduleP          = 0.14
	rescheduleCancelP    = 0.25 // rescheduled appointments later cancelled beside a new kept one
	cancelP              = 0.07
	rebookAfterCancelP   = 0.6
	rebookAfterNoShowP   = 0.55
	noShowBase           = 0.045
	noShowLeadSpan       = 0.20 // added as lead time grows
	noShowLeadScaleDays  = 30.0
	maxAppointments      = 4
	maxLeadDays          = 365 // no clinic books further out
	referrerUpdateBookP  = 0.35
	referrerUpdateDoneP  = 0.25
	referrerUpdateOtherP = 0.6
	otherSiteP           = 0.1
)

var (
	cancelledBy       = [...]string{"patient", "provider", "system"}
	cancelledByWeight = [...]float64{55, 30, 15}
	visitTypes        = [...]string{"new_patient", "consult", "procedure", "telehealth", "follow_up"}
	visitTypeWeight   = [...]float64{55, 20, 10, 12, 3}
)

// Closing the loop: each site has its own habits. A share of visits never get a
// note back; the rest arrive after a log-normal delay around the site's median.
const (
	noteNeverBase  = 0.33
	noteMedianDays = 9.0
	noteDelaySigma = 1.1
	preVisitNoteP  = 0.04
	addendumNoteP  = 0.05
	locAccessSigma = 0.25
	locLoopSigma   = 0.6
	locNeverSigma  = 0.35
)

var (
	noteChannels       = [...]string{"fax", "direct", "portal", "hl7", "fhir", "other"}
	noteChannelWeight  = [...]float64{30, 25, 10, 20, 10, 5}
	recipients         = [...]string{"", "referrer", "pcp", "other"} // "" leaves the field out
	recipientWeight    = [...]float64{20, 60, 15, 5}
	outreachOutcomes   = [...]string{"reached", "voicemail", "no_answer", "other"}
	rejectReasons      = [...]string{"wrong_fit", "no_capacity", "insurance", "incomplete", "other"}
	rejectReasonWeight = [...]float64{40, 20, 20, 0, 20} // incomplete ones come from intake
	leakReasons        = [...]string{"patient_choice", "access", "payer", "other"}
	authDenyReasons    = [...]string{"not_medically_necessary", "missing_documentation", "out_of_network", "benefit_limit"}
	missingLists       = [][]string{
		{"clinical_notes"}, {"insurance_card"}, {"diagnosis_code"}, {"imaging_report"},
		{"clinical_notes", "diagnosis_code"}, {"signed_order"}, {"lab_results", "clinical_notes"},
	}
)

const rejectIncomplete = 3 // rejectReasons[3]

// Referral cancellation reasons (free text in the contract).
const (
	cancelPatientDeclined = iota
	cancelUnableToReach
	cancelAuthDenied
	cancelNoResponse
	cancelNoShow
	cancelOther
)

var referralCancelReasons = [...]string{"patient_declined", "unable_to_reach", "auth_denied", "no_response", "no_show", "other"}

// How a leaked referral leaves the network.
const (
	leakNone     = iota
	leakAtCreate // sent out of network from the start
	leakRedirect // redirected out after triage
	leakClaims   // accepted, maybe booked, then care happened elsewhere (seen in claims)
)

// Weights of leakReasons (patient_choice, access, payer, other) by path.
var (
	leakReasonAtCreate = [...]float64{50, 20, 20, 10}
	leakReasonRedirect = [...]float64{30, 50, 10, 10}
	leakReasonClaims   = [...]float64{45, 30, 15, 10}
)

// Calls to the patient: unanswered ones (voicemail, no_answer, other), and how
// many it takes to book (1, 2, 3).
var (
	missedCallWeight   = [...]float64{50, 40, 10}
	callsBeforeBooking = [...]float64{60, 30, 10}
)

const (
	numExternalOrgs = 12 // out-of-network destinations of redirects
	numNetworkOrgs  = 6  // in-network facilities redirects can send to
)

// leakProbability is the chance a referral ends outside the network: the
// referrer's network and type set the base (20–50%), long waits add to it.
func leakProbability(rt *referrerType, self, inNetwork bool, line *serviceLine) float64 {
	var p float64
	switch {
	case self:
		p = selfLeak
	case inNetwork:
		p = rt.leakIn
	default:
		p = rt.leakOut
	}
	access := 0.75 + 0.25*line.meanDays/allLinesMean
	return math.Min(p*access, 0.9)
}

// noShowProbability rises with lead time (5–7% for next-week slots, past 20%
// for slots months out) and with the payer.
func noShowProbability(leadSeconds int64, payer int) float64 {
	leadDays := float64(leadSeconds) / day
	p := noShowBase + noShowLeadSpan*(1-math.Exp(-leadDays/noShowLeadScaleDays))
	return math.Min(p*payerNoShow[payer], 0.6)
}

// lineMedianDays is the median of the line's log-normal time to appointment.
func lineMedianDays(line *serviceLine) float64 {
	return line.meanDays / math.Exp(ttaSigma*ttaSigma/2)
}
