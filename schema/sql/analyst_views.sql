{{- /* The closed-loop rule of the analyst views, written once (schema.
LoopClosedWithin; KPIS.md): conditions over v_referrals' columns, NULL where
the referral has no first completed visit (or no note), which countIf and
ifNull read as false. Parsed with every migration; v_referrer_scorecard
(0005) counts with them and v_loops (0006) turns them into the columns the
dashboards' closed-loop panels read.

loop_matured: the first completed visit is at least LoopClosedWithin old, so
its loop is judged (the closed-loop cohort's condition). */ -}}
{{define "loop_matured" -}}
first_completed_at <= now() - {{loopClosedWithinDays}} * 86400
{{- end}}

{{- /* loop_closed_within: the first consult note at or after the first
completed visit was sent within LoopClosedWithin of it. */ -}}
{{define "loop_closed_within" -}}
days_to_loop_close <= {{loopClosedWithinDays}}
{{- end}}
