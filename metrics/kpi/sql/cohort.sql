-- Cohort KPIs of every window: C(W) = referrals with created_at in (T-W, T],
-- per breakdown group. One read of the largest window's cohort serves all
-- windows. Columns: window_seconds, group_key, referrals, scheduled, completed,
-- leaked, internal_referrals, internal_leaked, incomplete, then the
-- distributions of time to schedule (tts: first_booked_at - created_at over
-- referrals booked by T) and time to appointment (tta: access_at - created_at
-- over referrals that have an access_at), in seconds; then (KPIS.md "Stage,
-- priority and payer KPIs") triage_sla_cohort and triage_sla_breaches, the
-- leaked referrals per payer class (.PayerClasses order), the distributions of
-- authorization turnaround (auth: auth_decided_at - auth_requested_at), time to
-- triage (triage: decided_at - created_at) and information turnaround (info:
-- info_received_at - info_requested_at), and the leaked referrals per
-- leak_reason (.LeakReasons order). The stage facts referral_facts lacks come
-- from referral_stages, in the same primary-key range.
SELECT
    window_seconds, group_key, referrals, scheduled, completed, leaked,
    internal_referrals, internal_leaked, incomplete,
    {{template "distribution" (args "Name" "tts" "Buckets" .Buckets)}},
    {{template "distribution" (args "Name" "tta" "Buckets" .Buckets)}},
    triage_sla_cohort, triage_sla_breaches,
    {{- range $i, $p := .PayerClasses}} leaked_payer_{{$i}},{{end}}
    {{template "distribution" (args "Name" "auth" "Buckets" .Buckets)}},
    {{template "distribution" (args "Name" "triage" "Buckets" .Buckets)}},
    {{template "distribution" (args "Name" "info" "Buckets" .Buckets)}}
    {{- range $i, $r := .LeakReasons}}, leaked_reason_{{$i}}{{end}}
FROM
(
SELECT
    w AS window_seconds,
    group_key,
    sum(n_referrals) AS referrals,
    sum(n_scheduled) AS scheduled,
    sum(n_completed) AS completed,
    sum(n_leaked) AS leaked,
    sum(n_internal_referrals) AS internal_referrals,
    sum(n_internal_leaked) AS internal_leaked,
    sum(n_incomplete) AS incomplete,
    arraySort(groupArrayArray(tts_values)) AS tts,
    arraySort(groupArrayArray(tta_values)) AS tta,
    sum(n_sla_cohort) AS triage_sla_cohort,
    sum(n_sla_breaches) AS triage_sla_breaches,
    {{- range $i, $p := .PayerClasses}}
    sum(n_leaked_payer_{{$i}}) AS leaked_payer_{{$i}},{{end}}
    arraySort(groupArrayArray(auth_values)) AS auth,
    arraySort(groupArrayArray(triage_values)) AS triage,
    arraySort(groupArrayArray(info_values)) AS info
    {{- range $i, $r := .LeakReasons}},
    sum(n_leaked_reason_{{$i}}) AS leaked_reason_{{$i}}{{end}}
FROM
(
    SELECT *, {{template "group_keys" .}} AS group_key
    FROM
    (
        -- the cells: a window's referrals alike in every breakdown dimension,
        -- aggregated once before they multiply by group (10 M events with
        -- random ids: about 6 referrals per cell, and 0.48 s of server CPU
        -- for the query against 0.53 s when each referral multiplied)
        SELECT
            w{{with .Dims}}, {{.}}{{end}},
            count() AS n_referrals,
            sum(is_booked) AS n_scheduled,
            sum(is_completed) AS n_completed,
            sum(is_leaked) AS n_leaked,
            countIf(rnet = 'in') AS n_internal_referrals,
            countIf(rnet = 'in' AND is_leaked = 1) AS n_internal_leaked,
            sum(is_incomplete) AS n_incomplete,
            groupArrayIf(toInt64(m_booked) - toInt64(m_created), is_booked = 1) AS tts_values,
            groupArrayIf(toInt64(access_at) - toInt64(m_created), access_at > toDateTime(0, 'UTC')) AS tta_values,
            -- triage SLA: over the referrals we receive (first destination in), a
            -- breach (sla_breach) is more business days from creation to the clock's
            -- end than the priority's SLA
            countIf(sla_in = 1) AS n_sla_cohort,
            countIf(sla_in = 1 AND sla_breach = 1) AS n_sla_breaches,
            {{- range $i, $p := .PayerClasses}}
            countIf(is_leaked = 1 AND payer = '{{$p}}') AS n_leaked_payer_{{$i}},{{end}}
            groupArrayIf(auth_at - toInt64(m_auth_req), has_auth_req = 1 AND auth_at > 0) AS auth_values,
            groupArrayIf(triage_at - toInt64(m_created), triage_at > 0) AS triage_values,
            groupArrayIf(info_at - toInt64(m_info), is_incomplete = 1 AND info_at > 0) AS info_values
            {{- range $i, $r := .LeakReasons}},
            countIf(lreason = '{{$r}}') AS n_leaked_reason_{{$i}}{{end}}
        FROM
        (
            SELECT *, {{template "windows" .}} AS w
            FROM
            (
                SELECT rid, m_created, rnet, prio, payer{{.DimsExcept "rnet" "prio" "payer"}},
                       m_booked, is_booked, is_completed, is_leaked, is_incomplete, access_at,
                       toUInt8(first_dest = 'in') AS sla_in,
                       -- the triage clock ends at the earliest accepted, rejected or
                       -- cancelled at or before T (m_closed: rejected or cancelled),
                       -- else at T
                       multiIf(m_accepted > toDateTime(0, 'UTC') AND m_accepted <= {{.T}} AND (is_closed = 0 OR m_accepted <= m_closed), m_accepted,
                               is_closed = 1, m_closed,
                               {{.T}}) AS clock_end,
                       -- per referral, before the rows multiply by window and group
                       toUInt8({{.BusinessDays "m_created" "clock_end"}} > {{.TriageSLA "prio"}}) AS sla_breach,
                       m_auth_req,
                       toUInt8(m_auth_req > toDateTime(0, 'UTC') AND m_auth_req <= {{.T}}) AS has_auth_req,
                       -- the stage facts as of T, written once (schema/stages.go; the
                       -- analyst view v_referrals renders them as of now):
                       -- auth_decided_at, decided_at, info_received_at (0 when none)
                       -- and leak_reason ('' when not leaked)
                       {{authDecidedAt "m_auth_req" "auths" .T}} AS auth_at,
                       {{decidedAt "m_accepted" "m_rejected" .T}} AS triage_at,
                       m_info,
                       {{infoReceivedAt "m_info" "info_rcvd" .T}} AS info_at,
                       m_leaked,
                       {{leakReason "is_leaked" "m_leaked" "first_leak_reason" .T}} AS lreason
                FROM
                (
                    SELECT *
                    FROM
                    (
                        {{template "referrals" (lookup . "cohort")}}
                    ) AS rf
                    ALL LEFT JOIN
                    (
                        {{template "stages" (lookup . "cohort")}}
                    ) AS st USING (rid)
                ) AS r
                ALL LEFT JOIN
                (
                    -- access_at: the earliest slot among the referral's appointments
                    -- not cancelled as of T (it may lie after T); 0 when there is none
                    SELECT rid, minIf(slot_at, last_rank != {{rank "cancelled"}} AND slot_at > toDateTime(0, 'UTC')) AS access_at
                    FROM
                    (
                        {{template "appointments" (lookup . "cohort")}}
                    )
                    GROUP BY rid
                ) AS a USING (rid)
                WHERE toInt64(m_created) > {{.CohortFrom}}
            )
            WHERE toInt64(m_created) > {{.TUnix}} - w
        )
        GROUP BY w{{with .Dims}}, {{.}}{{end}}
    )
)
GROUP BY window_seconds, group_key
)
