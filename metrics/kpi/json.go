package kpi

import (
	"encoding/json"
	"io"
	"time"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/metrics/kpi/sla"
)

// The JSON of `referralops kpi --format json`, the contract analysts and tests
// use: one object per window,
//
//	{"as_of": "2026-03-31T00:00:00Z", "window": "30d",
//	 "totals": {fields}, "by_service_line": {"cardiology": {fields}, ...},
//	 "by_priority": {"routine": {fields}, "urgent": {fields}, "stat": {fields}},
//	 "sla_calendar": {"time_zone": "UTC", "weekend": ["saturday", "sunday"],
//	   "holidays": [], "triage_business_days": {"routine": 2, "urgent": 1, "stat": 0}},
//	 "referrers": {"new": 0, "active": 0, "fading": 0, "inactive": 0},
//	 "referrer_attention": {"critical": 0, "high": 0, "medium": 0, "minor": 0,
//	   "by_referrer_type": {"primary_care": {"critical": 0, ...}, ...}}}
//
// WriteJSON writes that object when the snapshot has one window and an array of
// them, in window order, when it has several.
type jsonWindow struct {
	AsOf          string                `json:"as_of"`
	Window        string                `json:"window"`
	Totals        jsonFields            `json:"totals"`
	ByServiceLine map[string]jsonFields `json:"by_service_line"`
	ByPriority    map[string]jsonFields `json:"by_priority"`
	Calendar      sla.Calendar          `json:"sla_calendar"`
	Referrers     jsonReferrers         `json:"referrers"`
	Attention     jsonAttention         `json:"referrer_attention"`
}

type jsonFields struct {
	Referrals                   int64            `json:"referrals"`
	Scheduled                   int64            `json:"scheduled"`
	Completed                   int64            `json:"completed"`
	Leaked                      int64            `json:"leaked"`
	InternalReferrals           int64            `json:"internal_referrals"`
	InternalLeaked              int64            `json:"internal_leaked"`
	Incomplete                  int64            `json:"incomplete"`
	TimeToScheduleP50Seconds    *int64           `json:"time_to_schedule_p50_seconds"`
	TimeToScheduleP90Seconds    *int64           `json:"time_to_schedule_p90_seconds"`
	TimeToAppointmentP50Seconds *int64           `json:"time_to_appointment_p50_seconds"`
	TimeToAppointmentP90Seconds *int64           `json:"time_to_appointment_p90_seconds"`
	LoopCohort                  int64            `json:"loop_cohort"`
	LoopClosed14d               int64            `json:"loop_closed_14d"`
	CMS50Patients               int64            `json:"cms50_patients"`
	CMS50Closed                 int64            `json:"cms50_closed"`
	CMS50NoPatientToken         int64            `json:"cms50_no_patient_token"`
	AppointmentsKeptOrMissed    int64            `json:"appointments_kept_or_missed"`
	NoShows                     int64            `json:"no_shows"`
	AuthDecisions               int64            `json:"auth_decisions"`
	AuthDenied                  int64            `json:"auth_denied"`
	Backlog                     jsonBacklog      `json:"backlog"`
	AuthTurnaroundP50Seconds    *int64           `json:"auth_turnaround_p50_seconds"`
	AuthTurnaroundP90Seconds    *int64           `json:"auth_turnaround_p90_seconds"`
	TriageSLACohort             int64            `json:"triage_sla_cohort"`
	TriageSLABreaches           int64            `json:"triage_sla_breaches"`
	LeakedByPayerClass          map[string]int64 `json:"leaked_by_payer_class"`
	TimeToTriageP50Seconds      *int64           `json:"time_to_triage_p50_seconds"`
	TimeToTriageP90Seconds      *int64           `json:"time_to_triage_p90_seconds"`
	InfoTurnaroundP50Seconds    *int64           `json:"info_turnaround_p50_seconds"`
	InfoTurnaroundP90Seconds    *int64           `json:"info_turnaround_p90_seconds"`
	LeakedByReason              map[string]int64 `json:"leaked_by_reason"`
}

type jsonBacklog struct {
	Days0To2   int64 `json:"0-2d"`
	Days3To7   int64 `json:"3-7d"`
	Days8To14  int64 `json:"8-14d"`
	Days15To30 int64 `json:"15-30d"`
	Days31Plus int64 `json:"31d+"`
}

type jsonReferrers struct {
	New      int64 `json:"new"`
	Active   int64 `json:"active"`
	Fading   int64 `json:"fading"`
	Inactive int64 `json:"inactive"`
}

type jsonLevels struct {
	Critical int64 `json:"critical"`
	High     int64 `json:"high"`
	Medium   int64 `json:"medium"`
	Minor    int64 `json:"minor"`
}

type jsonAttention struct {
	jsonLevels
	ByReferrerType map[string]jsonLevels `json:"by_referrer_type"`
}

func toJSONAttention(a ReferrerAttention) jsonAttention {
	j := jsonAttention{jsonLevels: jsonLevels(a.Totals), ByReferrerType: make(map[string]jsonLevels, len(a.ByType))}
	for typ, l := range a.ByType {
		j.ByReferrerType[typ] = jsonLevels(l)
	}
	return j
}

func toJSONFields(f Fields) jsonFields {
	// every payer class of EVENTS.md is a key, with or without leaks
	leakedByPayerClass := map[string]int64{}
	for _, c := range event.EnumValues("payer_class") {
		leakedByPayerClass[c] = f.LeakedByPayerClass[c]
	}
	leakedByReason := map[string]int64{}
	for _, r := range LeakReasons {
		leakedByReason[r] = f.LeakedByReason[r]
	}
	return jsonFields{
		Referrals: f.Referrals, Scheduled: f.Scheduled, Completed: f.Completed, Leaked: f.Leaked,
		InternalReferrals: f.InternalReferrals, InternalLeaked: f.InternalLeaked, Incomplete: f.Incomplete,
		TimeToScheduleP50Seconds: f.TimeToSchedule.P50, TimeToScheduleP90Seconds: f.TimeToSchedule.P90,
		TimeToAppointmentP50Seconds: f.TimeToAppointment.P50, TimeToAppointmentP90Seconds: f.TimeToAppointment.P90,
		LoopCohort: f.LoopCohort, LoopClosed14d: f.LoopClosed14d,
		CMS50Patients: f.CMS50Patients, CMS50Closed: f.CMS50Closed, CMS50NoPatientToken: f.CMS50NoPatientToken,
		AppointmentsKeptOrMissed: f.AppointmentsKeptOrMissed, NoShows: f.NoShows,
		AuthDecisions: f.AuthDecisions, AuthDenied: f.AuthDenied,
		Backlog:                  jsonBacklog(f.Backlog),
		AuthTurnaroundP50Seconds: f.AuthTurnaround.P50, AuthTurnaroundP90Seconds: f.AuthTurnaround.P90,
		TriageSLACohort: f.TriageSLACohort, TriageSLABreaches: f.TriageSLABreaches,
		LeakedByPayerClass:     leakedByPayerClass,
		TimeToTriageP50Seconds: f.TimeToTriage.P50, TimeToTriageP90Seconds: f.TimeToTriage.P90,
		InfoTurnaroundP50Seconds: f.InfoTurnaround.P50, InfoTurnaroundP90Seconds: f.InfoTurnaround.P90,
		LeakedByReason: leakedByReason,
	}
}

func (s Snapshot) jsonWindows() []jsonWindow {
	out := make([]jsonWindow, len(s.Windows))
	r := s.Referrers.Totals
	for i, w := range s.Windows {
		jw := jsonWindow{
			AsOf:          s.AsOf.UTC().Format(time.RFC3339),
			Window:        w.Window.String(),
			Totals:        toJSONFields(w.Totals),
			ByServiceLine: make(map[string]jsonFields, len(w.ByServiceLine)),
			ByPriority:    make(map[string]jsonFields, len(w.ByPriority)),
			Calendar:      s.Calendar,
			Referrers:     jsonReferrers{New: r.New, Active: r.Active, Fading: r.Fading, Inactive: r.Inactive},
			Attention:     toJSONAttention(s.Attention),
		}
		for line, f := range w.ByServiceLine {
			jw.ByServiceLine[line] = toJSONFields(f)
		}
		for p, f := range w.ByPriority {
			jw.ByPriority[p] = toJSONFields(f)
		}
		out[i] = jw
	}
	return out
}

// WriteJSON writes the snapshot in the JSON contract above, indented.
func WriteJSON(w io.Writer, s Snapshot) error {
	ws := s.jsonWindows()
	var v any = ws
	if len(ws) == 1 {
		v = ws[0]
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
