package schema

import (
	"fmt"

	"github.com/referralops/referralops/metrics/kpi/sla"
)

// KPIS.md's stage facts ("Stage, priority and payer KPIs") as of a time T,
// written once in SQL for the KPI queries (package metrics/kpi, any T) and
// the analyst view v_referrals (migrations/0011, now()); Funcs renders them.
// Arguments are SQL expressions: times are DateTime('UTC') with 0 meaning
// none, T a DateTime. Each result is Unix seconds (Int64, 0 when none as of
// T), or for LeakReasonSQL a leak reason ('' when not leaked).

// DecidedAtSQL is decided_at: the earliest referral.accepted or
// referral.rejected at or before t, from the earliest accepted and the
// earliest rejected.
func DecidedAtSQL(accepted, rejected, t string) string {
	return fmt.Sprintf("multiIf(%[1]s > toDateTime(0, 'UTC') AND %[1]s <= %[3]s"+
		" AND NOT (%[2]s > toDateTime(0, 'UTC') AND %[2]s < %[1]s), toInt64(%[1]s),"+
		" %[2]s > toDateTime(0, 'UTC') AND %[2]s <= %[3]s, toInt64(%[2]s), toInt64(0))", accepted, rejected, t)
}

// AuthDecidedAtSQL is auth_decided_at: the earliest authorization decision at
// or after the earliest request (requested), both at or before t. decisions
// is referral_facts' auth_decisions array of (time, event id, approved).
func AuthDecidedAtSQL(requested, decisions, t string) string {
	return fmt.Sprintf("if(%[1]s > toDateTime(0, 'UTC') AND %[1]s <= %[3]s,"+
		" arrayReduce('min', arrayMap(d -> toInt64(d.1), arrayFilter(d -> d.1 >= %[1]s AND d.1 <= %[3]s, %[2]s))), toInt64(0))",
		requested, decisions, t)
}

// InfoReceivedAtSQL is info_received_at: the earliest referral.info_received
// at or after the earliest request (requested), both at or before t.
// received is referral_stages' array of info_received times.
func InfoReceivedAtSQL(requested, received, t string) string {
	return fmt.Sprintf("if(%[1]s > toDateTime(0, 'UTC') AND %[1]s <= %[3]s,"+
		" arrayReduce('min', arrayMap(x -> toInt64(x), arrayFilter(x -> x >= %[1]s AND x <= %[3]s, %[2]s))), toInt64(0))",
		requested, received, t)
}

// LeakReasonSQL is leak_reason (” when not leaked): that of the earliest
// referral.leaked at or before t ('other' when it carries none), else
// 'destination_out' for a referral leaked by its destination. leaked is the
// referral's leaked flag as of t, leakedAt its earliest referral.leaked and
// reason that event's reason (referral_stages).
func LeakReasonSQL(leaked, leakedAt, reason, t string) string {
	return fmt.Sprintf("multiIf(%[1]s = 0, '',"+
		" %[2]s > toDateTime(0, 'UTC') AND %[2]s <= %[4]s, if(%[3]s = '', 'other', %[3]s),"+
		" 'destination_out')", leaked, leakedAt, reason, t)
}

// ViewCalendar is the business-day calendar the analyst views count with:
// package sla's default (UTC; Saturday and Sunday; no holidays), rendered into
// the view when it is created. A site with another calendar reads its
// business-day KPIs from `referralops kpi --sla-calendar`; the views' day
// counts are the default calendar's (README, analyst views).
var ViewCalendar = sla.Default()
