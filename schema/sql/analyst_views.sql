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

{{- /* v_referrals: the statement that creates the view as 0011 made it
(migrations 0011, 0012 and 0017): the as-of facts at now() with the stage
facts, NULL meaning "not yet". With .ArgMinDims it reads referral_facts as
0011 found it; 0012 makes it again over created_event (.SetStates), 0017 over
the event lists. */}}
{{define "v_referrals" -}}
CREATE VIEW IF NOT EXISTS {{.DB}}.v_referrals{{.OnCluster}} AS
SELECT
    referral_id,
    if(created_at = 0, NULL, toDateTime(created_at, 'UTC')) AS created_at,
    service_line,
    location_id,
    referrer_id,
    referrer_org_id,
    referrer_type,
    referrer_network,
    payer_class,
    priority,
    channel,
    destination_network,
    leaked,
    closed,
    toUInt8(s_info_req > 0) AS incomplete,
    if(first_booked_at = 0, NULL, toDateTime(first_booked_at, 'UTC')) AS first_booked_at,
    if(access_at = 0, NULL, toDateTime(access_at, 'UTC')) AS access_at,
    if(first_completed_at = 0, NULL, toDateTime(first_completed_at, 'UTC')) AS first_completed_at,
    if(loop_closed_at = 0, NULL, toDateTime(loop_closed_at, 'UTC')) AS loop_closed_at,
    if(created_at = 0 OR first_booked_at = 0, NULL, (toInt64(first_booked_at) - toInt64(created_at)) / 86400) AS days_to_schedule,
    if(created_at = 0 OR access_at = 0, NULL, (toInt64(access_at) - toInt64(created_at)) / 86400) AS days_to_appointment,
    if(first_completed_at = 0 OR loop_closed_at = 0, NULL, (toInt64(loop_closed_at) - toInt64(first_completed_at)) / 86400) AS days_to_loop_close,
    if(s_decided = 0, NULL, toDateTime(s_decided, 'UTC')) AS decided_at,
    if(s_auth_req = 0, NULL, toDateTime(s_auth_req, 'UTC')) AS auth_requested_at,
    if(s_auth_decided = 0, NULL, toDateTime(s_auth_decided, 'UTC')) AS auth_decided_at,
    if(s_info_req = 0, NULL, toDateTime(s_info_req, 'UTC')) AS info_requested_at,
    if(s_info_received = 0, NULL, toDateTime(s_info_received, 'UTC')) AS info_received_at,
    if(s_created = 0 OR s_decided = 0, NULL,
        {{viewBusinessDays "toDateTime(s_created, 'UTC')" "toDateTime(s_decided, 'UTC')"}}) AS business_days_to_triage,
    if(s_auth_decided = 0, NULL,
        {{viewBusinessDays "toDateTime(s_auth_req, 'UTC')" "toDateTime(s_auth_decided, 'UTC')"}}) AS auth_turnaround_business_days,
    if(s_info_received = 0, NULL,
        {{viewBusinessDays "toDateTime(s_info_req, 'UTC')" "toDateTime(s_info_received, 'UTC')"}}) AS info_turnaround_business_days,
    nullIf(s_leak_reason, '') AS leak_reason
FROM
(
    SELECT
        *,
        toInt64(created_at) AS s_created,
        toInt64(info_requested_at) AS s_info_req,
        {{decidedAt "m_accepted" "m_rejected" "now()"}} AS s_decided,
        {{authDecidedAt "m_auth_req" "auths" "now()"}} AS s_auth_decided,
        if(m_auth_req > toDateTime(0, 'UTC') AND m_auth_req <= now(), toInt64(m_auth_req), toInt64(0)) AS s_auth_req,
        {{infoReceivedAt "toDateTime(s_info_req, 'UTC')" "info_rcvd" "now()"}} AS s_info_received,
        {{leakReason "leaked" "m_leaked" "first_leak_reason" "now()"}} AS s_leak_reason
    FROM
    (
{{if .ArgMinDims}}{{asofArgMinDims .DB "now()"}}{{else if .SetStates}}{{asofSetStates .DB "now()"}}{{else}}{{asof .DB "now()"}}{{end}}
    ) AS f
    ANY LEFT JOIN
    (
        -- the stage states the as-of facts leave out, from referral_facts and
        -- referral_stages (0008), one row per referral
        SELECT referral_id, m_accepted, m_auth_req, auths, m_leaked, m_rejected, info_rcvd, first_leak_reason
        FROM
        (
            SELECT
                referral_id,
                minIfMerge(accepted_at) AS m_accepted,
                minIfMerge(auth_requested_at) AS m_auth_req,
                {{eventsMerge "auth_decisions" .SetStates}} AS auths,
                minIfMerge(leaked_at) AS m_leaked
            FROM {{.DB}}.referral_facts
            GROUP BY referral_id
        ) AS rf
        ANY LEFT JOIN
        (
            SELECT
                referral_id,
                minIfMerge(rejected_at) AS m_rejected,
                groupUniqArrayIfMerge(info_received) AS info_rcvd,
                argMinIfMerge(leak_reason) AS first_leak_reason
            FROM {{.DB}}.referral_stages
            GROUP BY referral_id
        ) AS st USING (referral_id)
    ) AS s USING (referral_id)
)
{{- end}}
