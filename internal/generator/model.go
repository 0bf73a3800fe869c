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
	// infoShare is the share of its referrals that lack information at intake
	// ("referrals lacking information: 10-40% by specialty"), before the
	// channel's factor: lines that need test results and imaging ask most.
	infoShare float64
	// noShowOdds multiplies the odds of a no-show ("behavioral health about
	// twice other lines").
	noShowOdds float64
}

var serviceLines = [...]serviceLine{
	{"cardiology", 11, 33, 0.55, 0.20, 1},
	{"orthopedics", 14, 12, 0.50, 0.18, 1},
	{"oncology", 7, 31, 0.70, 0.32, 1},
	{"imaging", 14, 31, 0.80, 0.12, 1},
	{"behavioral_health", 8, 31, 0.20, 0.25, 2},
	{"womens_health", 8, 41.8, 0.10, 0.11, 1},
	{"surgery", 8, 31, 0.75, 0.28, 1},
	{"gastroenterology", 8, 40, 0.45, 0.22, 1},
	{"physical_therapy", 9, 31, 0.40, 0.10, 1},
	{"neurology", 6, 31, 0.35, 0.35, 1},
	{"dermatology", 5, 36.5, 0.05, 0.13, 1},
	{"other", 2, 31, 0.20, 0.20, 1},
}

const (
	// ttaSigma is the log-normal σ of time to appointment within one line,
	// site and priority, from the benchmark's tail (median 42 d, p75 80 d:
	// σ ≈ 0.9–1.0). The earliest slot a booking can get squeezes the short
	// waits and lines and sites spread them again: all routine waits
	// together show ln(p75/p50)/0.6745 ≈ 0.9 (TestShapeLocationWaitsAndTail).
	ttaSigma       = 0.95
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
// when it is in and out of network, its usual channel, and whom consult notes
// go to.
type referrerType struct {
	name             string
	weight           float64
	inNetwork        float64
	leakIn, leakOut  float64
	urgentMultiplier float64
	channels         [numChannels]float64
	noteTo           *[len(recipients)]float64
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
	{"primary_care", 46, 0.55, 0.17, 0.47, 1, chProvider, &noteToPCPReferrer},
	{"specialist", 18, 0.50, 0.15, 0.45, 1, chProvider, &noteToClinician},
	{"urgent_care", 8, 0.35, 0.23, 0.53, 1.5, chFacility, &noteToClinician},
	{"emergency", 6, 0.65, 0.21, 0.50, 3, chFacility, &noteToClinician},
	{"hospital", 6, 0.60, 0.15, 0.45, 2, chFacility, &noteToClinician},
	{"case_manager", 6, 0.50, 0.13, 0.40, 1, chCommunity, &noteToNonClinician},
	{"employer", 3, 0.20, 0.27, 0.57, 0.5, chCommunity, &noteToNonClinician},
	{"community", 4, 0.30, 0.21, 0.50, 0.8, chCommunity, &noteToNonClinician},
	{"other", 3, 0.30, 0.21, 0.50, 1, chCommunity, &noteToNonClinician},
}

// Whom the consult note goes to (EVENTS.md recipient: left out, referrer,
// pcp, other), by who referred. A primary care referrer is the patient's PCP,
// so the note goes back to it; notes on referrals from urgent care, the
// emergency department or a hospitalist often go to the patient's PCP
// instead, and those from case managers, employers and community partners
// (and self-referrals) mostly do: the "referrers who say they receive
// results 62%" gap of KPIS.md, and why CMS50 counts only notes to the
// referrer.
var (
	noteToPCPReferrer  = [len(recipients)]float64{20, 72, 3, 5}
	noteToClinician    = [len(recipients)]float64{15, 50, 30, 5}
	noteToNonClinician = [len(recipients)]float64{5, 25, 60, 10}
)

// The self referrer type is not in the population: self-referrals come from
// patients through the portal or the phone and have their own referrer ids.
const selfLeak = 0.35

var (
	payers      = [...]string{"commercial", "medicare", "medicare_advantage", "medicaid", "self_pay", "other", "unknown"}
	payerWeight = [...]float64{44, 20, 16, 14, 3, 2, 1}
	// Prior-authorization need by payer (scaled by the service line's authShare).
	payerAuth = [...]float64{1, 0.2, 1.2, 1, 0, 0.7, 0}
	// Denial probability of a first authorization decision by payer class,
	// within the benchmark's 3.5–13.6% by insurer (6.4% overall for Medicare
	// Advantage in 2023): traditional Medicare rarely requires or denies,
	// Medicare Advantage and Medicaid plans deny most. About 7% overall.
	payerDenial = [...]float64{0.055, 0.035, 0.11, 0.09, 0, 0.05, 0}
	// No-show odds multiplier.
	payerNoShow = [...]float64{0.85, 0.9, 0.95, 1.6, 1.5, 1, 1.1}
)

const (
	omitPayerP    = 0.03 // payer_class left out (defaults to unknown)
	omitPriorityP = 0.25 // priority left out of routine referrals (defaults to routine)
)

var (
	priorities     = [...]string{"routine", "urgent", "stat"}
	priorityWeight = [...]float64{80, 16, 4}
	// priorityTTA multiplies the time to appointment: chart audits find urgent
	// referrals wait ~0.6x routine ones (49 d vs 79 d); stat ones are seen
	// within days.
	priorityTTA     = [...]float64{1, 0.62, 0.12}
	priorityBook    = [...]float64{1.0, 0.3, 0.1} // median days from ready to booked
	priorityMinLead = [...]int64{day, 4 * hour, hour}
	// triageBusinessDays weighs the business days (0, 1, 2, ...) from a
	// referral's arrival to its triage review, by priority. Large systems
	// answer within 2 business days, urgent ones at once (KPIS.md): most
	// meet that, some do not (about 15% of routine referrals take more than
	// 2, 10% of urgent ones more than 1), and the clock stops on weekends and
	// holidays, so a Friday referral is reviewed on Monday.
	triageBusinessDays = [len(priorities)][]float64{
		{30, 35, 20, 8, 4, 3},
		{65, 25, 6, 3, 1},
		{88, 9, 3},
	}
)

const (
	prRoutine = 0
	prStat    = 2
)

// Triage and intake.
const (
	infoReceivedP = 0.82
	// The referring office sends missing information back after a
	// log-normal number of business days (median 2); the review that
	// follows is usually the same day.
	infoReturnMedianBD = 2.0
	infoReturnSigma    = 0.8
	maxInfoCap         = 0.45 // no line and channel lacks information more often
	rejectP            = 0.03
	acceptedEventP     = 0.93 // accepted referrals with an explicit referral.accepted
	createdOutInP      = 0.03 // non-leaked referrals first routed out, then redirected in
	outAndBackP        = 0.03 // non-leaked referrals redirected out, then back in
	preBookCancelP     = 0.02
	outreachReachedP   = 0.6 // bookings preceded by calls to the patient
	unreachableP       = 0.035
	// Prior authorization: half of the denials are appealed, and 82% of
	// appealed denials are overturned (KPIS.md): an appeal ends approved,
	// or denied for good and the referral is cancelled.
	appealP          = 0.5
	appealOverturnP  = 0.82
	leakAtCreateP    = 0.35
	leakRedirectP    = 0.35 // the rest of leaked referrals leak by claims
	claimsLeakBookP  = 0.6  // claims-leaked referrals that booked first
	claimsLagMedianD = 12.0
)

// infoReviewBD weighs the business days (0, 1, 2) from the information's
// arrival to the triage decision it was holding up.
var infoReviewBD = []float64{60, 30, 10}

// Channel factor on the line's infoShare: fax and phone intake lose
// information, structured interfaces less so.
var channelIncomplete = [numChannels]float64{1.3, 0.85, 1, 1.2, 0.7, 0.65, 1}

// Prior-authorization timing in business days (KPIS.md: more than 60% of
// physicians wait 1 business day or more for a decision, 30% wait 3 or more;
// expedited requests are capped at 72 h from 2026). Weights of 0, 1, 2, ...
// business days: staff submit the request after acceptance, the payer
// decides a standard request (median 1 business day, 30% at 3 or more) or an
// expedited one (urgent and stat referrals), and an appeal follows a denial.
var (
	authSubmitBD    = []float64{50, 35, 15}
	authStandardBD  = []float64{20, 32, 18, 12, 8, 5, 3, 2}
	authExpeditedBD = []float64{55, 35, 10}
	authAppealBD    = []float64{0, 20, 30, 25, 15, 10}
)

// Appointments.
const (
	rescheduleP        = 0.14
	rescheduleCancelP  = 0.25 // rescheduled appointments later cancelled beside a new kept one
	cancelP            = 0.07
	rebookAfterCancelP = 0.6
	rebookAfterNoShowP = 0.55
	// No-shows: about 4% for next-day slots; the odds rise with lead time,
	// log-linearly, to ~5.5x for slots 4 weeks or more out (KPIS.md), then
	// the payer and the line multiply them (~8–23% overall in studies).
	noShowShortP         = 0.04
	noShowLongOddsRatio  = 5.5
	noShowLongDays       = 28.0
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
	// locAccessSpread: each site's access multiplier is 2^u, u uniform in
	// [-spread, spread]: metros differ by a factor of up to ~2 either way
	// (12 d Atlanta to 65 d Boston around 31 d).
	locAccessSpread = 1.0
	locLoopSigma    = 0.6
	locNeverSigma   = 0.35
)

var (
	noteChannels       = [...]string{"fax", "direct", "portal", "hl7", "fhir", "other"}
	noteChannelWeight  = [...]float64{30, 25, 10, 20, 10, 5}
	recipients         = [...]string{"", "referrer", "pcp", "other"} // "" leaves the field out
	outreachOutcomes   = [...]string{"reached", "voicemail", "no_answer", "other"}
	rejectReasons      = [...]string{"wrong_fit", "no_capacity", "insurance", "incomplete", "other"}
	rejectReasonWeight = [...]float64{40, 20, 20, 0, 20}                               // incomplete ones come from intake
	leakReasons        = [...]string{"patient_choice", "access", "payer", "other", ""} // "" leaves the reason out
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

// Weights of leakReasons (patient_choice, access, payer, other, none) by
// path. Patient preference (convenience, a known doctor) is the largest
// share of leakage in consultant studies, access (no slot soon enough) the
// next, network and payer restrictions after; claims feeds sometimes carry no
// reason at all. Referrals redirected out after triage are mostly for access.
var (
	leakReasonAtCreate = [len(leakReasons)]float64{45, 15, 25, 8, 7}
	leakReasonRedirect = [len(leakReasons)]float64{25, 50, 12, 6, 7}
	leakReasonClaims   = [len(leakReasons)]float64{45, 25, 12, 8, 10}
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

// noShowProbability rises with lead time, its odds from noShowShortP's at a
// day or less to noShowLongOddsRatio times that at noShowLongDays or more,
// and with the payer and the service line.
func noShowProbability(leadSeconds int64, payer int, line *serviceLine) float64 {
	leadDays := float64(leadSeconds) / day
	f := min(1, max(0, (leadDays-1)/(noShowLongDays-1)))
	odds := noShowShortP / (1 - noShowShortP) * math.Pow(noShowLongOddsRatio, f) * payerNoShow[payer] * line.noShowOdds
	return odds / (1 + odds)
}

// lineMedianDays is the median of the line's log-normal time to appointment.
func lineMedianDays(line *serviceLine) float64 {
	return line.meanDays / math.Exp(ttaSigma*ttaSigma/2)
}
