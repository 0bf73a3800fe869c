package kpi

import (
	"fmt"
	"strings"
	"time"

	"github.com/referralops/referralops/metrics/kpi/sla"
)

// Snapshot is every KPI of KPIS.md as of one time.
type Snapshot struct {
	// AsOf is T, in whole seconds, UTC.
	AsOf time.Time
	// Windows are the windowed KPIs, in the order requested. The backlog, which
	// has no window, is in every window's Fields alike.
	Windows []WindowSnapshot
	// Referrers is the referrer activity (fixed 90- and 365-day lookbacks).
	Referrers ReferrerActivity
	// Attention is the referrer attention (fixed 90- and 365-day lookbacks).
	Attention ReferrerAttention
	// ServiceLines is every service line with at least one referral created at
	// or before T, sorted; each has an entry in every window's ByServiceLine.
	ServiceLines []string
	// Buckets are the upper bounds of every Distribution's histogram.
	Buckets []time.Duration
	// Calendar is the business-day calendar and triage SLAs the snapshot used.
	Calendar sla.Calendar
}

// WindowSnapshot is the KPIs of one window.
type WindowSnapshot struct {
	Window Window
	// Totals is over every referral.
	Totals Fields
	// ByServiceLine has an entry for each of Snapshot.ServiceLines.
	ByServiceLine map[string]Fields
	// ByPriority has an entry for each of sla.Priorities.
	ByPriority map[string]Fields
	// Groups are every breakdown's groups (the totals and the service lines
	// included), sorted by Key; a group is listed when any KPI has data for it.
	Groups []Group
}

// Fields are one group's KPIs. Ratios are kept as numerator and denominator
// (KPIS.md: sums over labels stay correct), e.g. scheduled conversion is
// Scheduled / Referrals, the no-show rate NoShows / AppointmentsKeptOrMissed.
type Fields struct {
	// Referrals is |C|, the referrals created in (T−W, T].
	Referrals int64
	// Scheduled, Completed: referrals of C booked / completed by T.
	Scheduled, Completed int64
	// Leaked: referrals of C whose final destination is out of network or with a
	// referral.leaked, by T.
	Leaked int64
	// InternalReferrals, InternalLeaked: the same restricted to referrer_network in.
	InternalReferrals, InternalLeaked int64
	// Incomplete: referrals of C with a referral.info_requested by T.
	Incomplete int64
	// TimeToSchedule is first_booked_at − created_at over referrals of C booked by T.
	TimeToSchedule Distribution
	// TimeToAppointment is access_at − created_at over referrals of C that have one.
	TimeToAppointment Distribution
	// LoopCohort is |L|: referrals with first_completed_at in (T−W−14d, T−14d];
	// LoopClosed14d those of L with the loop closed within 14 days.
	LoopCohort, LoopClosed14d int64
	// CMS50Patients is |P|: each patient's earliest referral created in
	// (T−W, T] (ties by referral id); CMS50Closed those of P with a consult
	// note to the referrer in (created_at, T]; CMS50NoPatientToken the
	// referrals of C without a patient token, left out of P.
	CMS50Patients, CMS50Closed, CMS50NoPatientToken int64
	// AppointmentsKeptOrMissed: appointments with their slot in (T−W, T] and
	// status completed or no_show as of T; NoShows those with no_show.
	AppointmentsKeptOrMissed, NoShows int64
	// AuthDecisions: auth_approved and auth_denied events in (T−W, T];
	// AuthDenied those denied.
	AuthDecisions, AuthDenied int64
	// Backlog is the unscheduled backlog (no window).
	Backlog Backlog
	// TriageSLACohort is |S|: referrals of C whose earliest referral.created
	// has destination_network in; TriageSLABreaches those of S past their
	// priority's triage SLA in business days (Snapshot.Calendar).
	TriageSLACohort, TriageSLABreaches int64
	// LeakedByPayerClass counts the leaked referrals of C by payer class; a
	// class with none may be absent.
	LeakedByPayerClass map[string]int64
	// AuthTurnaround is auth_decided_at − auth_requested_at over referrals of C
	// with both by T.
	AuthTurnaround Distribution
	// TimeToTriage is decided_at − created_at over referrals of C decided
	// (accepted or rejected) by T.
	TimeToTriage Distribution
	// InfoTurnaround is info_received_at − info_requested_at over referrals of
	// C with both by T.
	InfoTurnaround Distribution
	// LeakedByReason counts the leaked referrals of C by leak_reason (one of
	// LeakReasons); a reason with none may be absent.
	LeakedByReason map[string]int64
}

// LeakReasons are KPIS.md's leak_reason values: a referral.leaked's reason
// (EVENTS.md; other when it carries none), or destination_out when the
// referral leaked by its final destination only.
var LeakReasons = []string{"patient_choice", "access", "payer", "other", "destination_out"}

// Distribution is a set of durations in whole seconds.
type Distribution struct {
	Count int64
	// Sum of the values in seconds (for a Prometheus histogram's _sum).
	Sum int64
	// P50 and P90 are exact nearest-rank quantiles: the value at 1-based position
	// ceil(p·n) of the sorted values; nil when Count is 0.
	P50, P90 *int64
	// Buckets[i] counts the values <= Snapshot.Buckets[i] (cumulative).
	Buckets []int64
}

// Backlog counts open, unbooked referrals created in (T−365d, T] by age in
// whole days.
type Backlog struct {
	Days0To2, Days3To7, Days8To14, Days15To30, Days31Plus int64
}

// Total is the whole backlog.
func (b Backlog) Total() int64 {
	return b.Days0To2 + b.Days3To7 + b.Days8To14 + b.Days15To30 + b.Days31Plus
}

// BacklogBuckets are the age bucket names, in Backlog's field order.
var BacklogBuckets = []string{"0-2d", "3-7d", "8-14d", "15-30d", "31d+"}

// Counts is the backlog in BacklogBuckets order.
func (b Backlog) Counts() []int64 {
	return []int64{b.Days0To2, b.Days3To7, b.Days8To14, b.Days15To30, b.Days31Plus}
}

// ReferrerActivity counts referrers by activity state.
type ReferrerActivity struct {
	Totals ReferrerStates
	// ByType is keyed by referrer_type: that of the referrer's latest referral
	// created in (T−365d, T].
	ByType map[string]ReferrerStates
}

// ReferrerStates are KPIS.md's referrer activity states.
type ReferrerStates struct {
	New, Active, Fading, Inactive int64
}

func (s *ReferrerStates) add(state string, n int64) error {
	switch state {
	case "new":
		s.New += n
	case "active":
		s.Active += n
	case "fading":
		s.Fading += n
	case "inactive":
		s.Inactive += n
	default:
		return fmt.Errorf("unknown referrer state %q", state)
	}
	return nil
}

// Dimension is a referral dimension a snapshot can be broken down by; all come
// from the referral's earliest referral.created.
type Dimension string

// The dimensions of KPIS.md's bounded Prometheus labels.
const (
	ServiceLine     Dimension = "service_line"
	Location        Dimension = "location"
	ReferrerType    Dimension = "referrer_type"
	ReferrerNetwork Dimension = "referrer_network"
	PayerClass      Dimension = "payer_class"
	Priority        Dimension = "priority"
)

// dimensionColumns are the columns of sql/common.sql's "referrals" that carry
// each dimension.
var dimensionColumns = map[Dimension]string{
	ServiceLine:     "sl",
	Location:        "loc",
	ReferrerType:    "rtype",
	ReferrerNetwork: "rnet",
	PayerClass:      "payer",
	Priority:        "prio",
}

// Breakdown is a set of dimensions whose value combinations form groups: nil is
// the totals, {ServiceLine} one group per service line, {ServiceLine, Location}
// one per pair seen.
type Breakdown []Dimension

// Label is one dimension's value in a group.
type Label struct {
	Dimension Dimension
	Value     string
}

// Group is one breakdown group's KPIs.
type Group struct {
	// Labels in the breakdown's order; none for the totals.
	Labels []Label
	Fields Fields
}

// Key is the group's key: "" for the totals, else "dim=value|dim=value" in
// label order.
func (g Group) Key() string { return groupKey(g.Labels) }

// Value is the value of dimension d, "" if the group has no such label.
func (g Group) Value(d Dimension) string {
	for _, l := range g.Labels {
		if l.Dimension == d {
			return l.Value
		}
	}
	return ""
}

func groupKey(labels []Label) string {
	parts := make([]string, len(labels))
	for i, l := range labels {
		parts[i] = string(l.Dimension) + "=" + l.Value
	}
	return strings.Join(parts, "|")
}

// parseGroupKey is groupKey's inverse (the SQL builds the same keys).
func parseGroupKey(key string) ([]Label, error) {
	if key == "" {
		return nil, nil
	}
	var labels []Label
	for _, part := range strings.Split(key, "|") {
		d, v, ok := strings.Cut(part, "=")
		if _, known := dimensionColumns[Dimension(d)]; !ok || !known {
			return nil, fmt.Errorf("group key %q: bad part %q", key, part)
		}
		labels = append(labels, Label{Dimension: Dimension(d), Value: v})
	}
	return labels, nil
}
