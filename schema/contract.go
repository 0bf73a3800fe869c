package schema

import (
	"fmt"
	"text/template"
	"time"
)

// The storage contract: the numbers the stored rows hold and the rule the
// readers share, named once here. The SQL templates of this package and of
// package metrics/kpi render them through Funcs, so no .sql file spells a
// kind, a rank or the 14 days; the dashboards' panels read the closed-loop
// rule from v_loops (migrations/0006).

// IndexKind is the kind column of kpi_index (migrations/0004): what time or
// key of which event a row indexes. The values are stored, so they never
// change; a new kind takes a new number.
type IndexKind uint8

const (
	// KindCreated: key '', at the referral.created time.
	KindCreated IndexKind = 1
	// KindCompleted: key '', at the appointment.completed time.
	KindCompleted IndexKind = 2
	// KindSlot: key '', at the slot (scheduled_for) of an appointment.booked or
	// appointment.rescheduled.
	KindSlot IndexKind = 3
	// KindDecided: key '', at a referral.auth_approved or auth_denied time.
	KindDecided IndexKind = 4
	// KindBooked: key '', at the appointment.booked time.
	KindBooked IndexKind = 5
	// KindClosed: key '', at a referral.cancelled or referral.rejected time.
	KindClosed IndexKind = 6
	// KindServiceLineCreated: key service_line, at the referral.created time.
	KindServiceLineCreated IndexKind = 11
	// KindReferrerCreated: key referrer_id, at the referral.created time.
	KindReferrerCreated IndexKind = 12
	// KindServiceLine: key service_line, at 1970-01-01 with no referral: the
	// service lines ever seen, one row each after merges.
	KindServiceLine IndexKind = 20
)

// StatusRank is an appointment event's rank in appointment_facts' history
// (migrations/0003). KPIS.md orders events of one time by it (completed >
// no_show > cancelled > rescheduled > booked), so the greatest (time, rank,
// event id) tuple is an appointment's latest event. The values are stored.
type StatusRank uint8

const (
	RankBooked      StatusRank = 1
	RankRescheduled StatusRank = 2
	RankCancelled   StatusRank = 3
	RankNoShow      StatusRank = 4
	RankCompleted   StatusRank = 5
)

// LoopClosedWithin is KPIS.md's closed-loop rule: a loop is closed when a
// consult note is sent within this time of the first completed visit, and a
// visit's loop is judged (matured) once this time has passed. Whole days: the
// views and panels count it in days.
const LoopClosedWithin = 14 * 24 * time.Hour

// CreatedDimensions are the dimensions of a referral's earliest
// referral.created, in the order referral_facts' created_event state
// (migrations/0012) holds them, after the event's time and id:
// minIf(tuple(event_time, event_id, service_line, ...)) is the earliest
// creation, ties by event id, with that event's dimensions. Stored, so the
// order never changes; a new dimension goes at the end, by a migration.
var CreatedDimensions = []string{
	"service_line", "location_id", "referrer_id", "referrer_org_id", "referrer_type",
	"referrer_network", "payer_class", "priority", "channel",
}

// createdField is the 1-based position in created_event of "at" (the
// creation time), "event_id" or one of CreatedDimensions.
func createdField(name string) (int, error) {
	switch name {
	case "at":
		return 1, nil
	case "event_id":
		return 2, nil
	}
	for i, d := range CreatedDimensions {
		if d == name {
			return 3 + i, nil
		}
	}
	return 0, fmt.Errorf("no field %q in created_event", name)
}

// The template names of the contract (see Funcs).
var (
	kindNames = map[string]IndexKind{
		"created": KindCreated, "completed": KindCompleted, "slot": KindSlot, "decided": KindDecided,
		"booked": KindBooked, "closed": KindClosed, "service_line_created": KindServiceLineCreated,
		"referrer_created": KindReferrerCreated, "service_line": KindServiceLine,
	}
	rankNames = map[string]StatusRank{
		"booked": RankBooked, "rescheduled": RankRescheduled, "cancelled": RankCancelled,
		"no_show": RankNoShow, "completed": RankCompleted,
	}
)

// Funcs are the template functions that render the contract into SQL:
//
//	{{kind "booked"}}            a kpi_index kind (IndexKind), e.g. 5
//	{{rank "no_show"}}           an appointment status rank (StatusRank), e.g. 4
//	{{loopClosedWithinDays}}     LoopClosedWithin in days, 14
//	{{loopClosedWithinSeconds}}  LoopClosedWithin in seconds, 1209600
//	{{decidedAt "acc" "rej" T}}  a stage fact as of T (stages.go), also
//	{{authDecidedAt ...}}, {{infoReceivedAt ...}}, {{leakReason ...}}
//	{{viewBusinessDays "a" "b"}} bd(a, b) of the analyst views' calendar (ViewCalendar)
//	{{created "priority"}}       a field's position in referral_facts' created_event
//	                             tuple ("at", "event_id", CreatedDimensions), e.g. 10
//	{{createdDimensions}}        CreatedDimensions, in order
//	{{createdKeyOf "t"}}         the created_key value of created_event value t
//	{{createdKey "ck" "at"}}     a field of created_key value ck (createdkey.go)
//
// An unknown name fails the render, so a typo cannot become a wrong number.
func Funcs() template.FuncMap {
	return template.FuncMap{
		"kind": func(name string) (IndexKind, error) {
			k, ok := kindNames[name]
			if !ok {
				return 0, fmt.Errorf("no kpi_index kind %q", name)
			}
			return k, nil
		},
		"rank": func(name string) (StatusRank, error) {
			r, ok := rankNames[name]
			if !ok {
				return 0, fmt.Errorf("no appointment status rank %q", name)
			}
			return r, nil
		},
		"loopClosedWithinDays":    func() int64 { return int64(LoopClosedWithin / (24 * time.Hour)) },
		"loopClosedWithinSeconds": func() int64 { return int64(LoopClosedWithin / time.Second) },
		"decidedAt":               DecidedAtSQL,
		"authDecidedAt":           AuthDecidedAtSQL,
		"infoReceivedAt":          InfoReceivedAtSQL,
		"leakReason":              LeakReasonSQL,
		"viewBusinessDays":        ViewCalendar.BusinessDaysSQL,
		"created":                 createdField,
		"createdDimensions":       func() []string { return CreatedDimensions },
		"createdKeyOf":            CreatedKeySQL,
		"createdKey":              CreatedKeyFieldSQL,
		"eventsState":             eventsState,
		"eventsColumn":            eventsColumn,
		"eventsMerge":             eventsMerge,
		"events":                  func(col string) (string, error) { return eventsMerge(col, false) },
	}
}

// eventLists are the facts columns that keep every event of a kind for a
// referral (referral_facts) or an appointment (appointment_facts), each a
// tuple led by the event's time. Since migration 0017 they are groupArray
// states named column + "_list": reading one deserializes a flat array,
// where the groupUniqArray states before it built a hash set per row, which
// made most of the cost of reading the facts (0.55-0.6 s per column for 1.6 M
// referrals against 0.08 s, 18.16). A list may hold an event twice (a
// redelivery, or both views during 0017): readers take arrayDistinct
// (eventsMerge), the set the states held before.
var eventLists = []eventList{
	{Table: "referral_facts", Keys: "referral_id", Column: "destinations", Cond: true},
	{Table: "referral_facts", Keys: "referral_id", Column: "auth_decisions", Cond: true},
	{Table: "referral_facts", Keys: "referral_id", Column: "consult_notes", Cond: true},
	{Table: "appointment_facts", Keys: "referral_id, appointment_id", Column: "history"},
}

// eventList is one of eventLists: its table, the table's grouping keys, its
// column before 0017, and whether its state takes a condition (-If).
type eventList struct {
	Table, Keys, Column string
	Cond                bool
}

func (l eventList) function(setStates bool, combinator string) string {
	f := "groupArray"
	if setStates {
		f = "groupUniqArray"
	}
	if l.Cond {
		f += "If"
	}
	return f + combinator
}

func findEventList(col string) (eventList, error) {
	for _, l := range eventLists {
		if l.Column == col {
			return l, nil
		}
	}
	return eventList{}, fmt.Errorf("no event list %q", col)
}

// eventsState is the -State aggregate that writes column col: groupArrayIf
// (or groupArray) since 0017, groupUniqArray... with setStates (before it).
func eventsState(col string, setStates bool) (string, error) {
	l, err := findEventList(col)
	return l.function(setStates, "State"), err
}

// eventsColumn is col's column name: col + "_list" since 0017.
func eventsColumn(col string, setStates bool) (string, error) {
	if _, err := findEventList(col); err != nil {
		return "", err
	}
	if setStates {
		return col, nil
	}
	return col + "_list", nil
}

// eventsMerge is the expression of col's merged events: distinct, in no
// particular order (readers sort or take extremes).
func eventsMerge(col string, setStates bool) (string, error) {
	l, err := findEventList(col)
	if err != nil {
		return "", err
	}
	if setStates {
		return l.function(true, "Merge") + "(" + col + ")", nil
	}
	return "arrayDistinct(" + l.function(false, "Merge") + "(" + col + "_list))", nil
}

// PHISuffix ends the name of the database that holds the raw events of
// database db: PHIDatabase(db). See PHIDatabase.
const PHISuffix = "_phi"

// PHIDatabase is the database that holds db's raw `events` (patient_token,
// the free-text reasons, every field as received) and the materialized views
// that read them (migrations/0009). Database db itself holds only PHI-free
// relations (facts, KPI lookups, analyst views), which is what the read-only
// users may read: ClickHouse 18.16 can only allow or deny whole databases, and
// checks a view's underlying tables against its reader's databases too, so the
// split must be physical. Only the ingester's writer user and the migrator may
// use PHIDatabase(db).
func PHIDatabase(db string) string { return db + PHISuffix }

// EventsTable is the qualified name of the raw events table of database db,
// what the ingester inserts into: PHIDatabase(db).events.
func EventsTable(db string) string { return PHIDatabase(db) + ".events" }
