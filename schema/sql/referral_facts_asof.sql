-- Per-referral facts of KPIS.md as of time T ({{.T}}): events after T are
-- ignored, so any past T replays exactly. One row per referral with an event at
-- or before T, sorted by referral_id. Times are Unix seconds, 0 meaning none.
-- The reference for KPI SQL; it runs unchanged on ClickHouse 18.16 and 26.7
-- (no window functions, no DateTime64, no WITH reaching into subqueries).
-- With .ArgMinDims it reads referral_facts as migrations 0002-0011 left it
-- (an argMinIf state per dimension), for the views 0005 and 0011 create; with
-- .SetStates the facts' event lists as groupUniqArray states (before 0017).
SELECT
    referral_id,
    toUInt32(created) AS created_at,
    if(created > 0, service_line, '') AS service_line,
    if(created > 0, location_id, '') AS location_id,
    if(created > 0, referrer_id, '') AS referrer_id,
    if(created > 0, referrer_org_id, '') AS referrer_org_id,
    if(created > 0, referrer_type, '') AS referrer_type,
    if(created > 0, referrer_network, '') AS referrer_network,
    if(created > 0, payer_class, '') AS payer_class,
    if(created > 0, priority, '') AS priority,
    if(created > 0, channel, '') AS channel,
    -- latest of created/redirected at or before T (a redirect wins a tie)
    destination_network,
    toUInt8(destination_network = 'out' OR leaked_event > 0) AS leaked,
    toUInt32(first_booked) AS first_booked_at,
    toUInt32(access) AS access_at,
    toUInt32(first_completed) AS first_completed_at,
    -- earliest consult note at or after first_completed_at, at or before T
    toUInt32(if(first_completed > 0,
        arrayReduce('min', arrayMap(x -> x.1, arrayFilter(x -> x.1 >= first_completed AND x.1 <= {{.T}}, notes))),
        toDateTime(0, 'UTC'))) AS loop_closed_at,
    toUInt8(closed > 0) AS closed,
    toUInt32(info_requested) AS info_requested_at
FROM
(
    SELECT
        referral_id,
        minMerge(first_event_at) AS m_first_event,
{{- if .ArgMinDims}}
        minIfMerge(created_at) AS m_created,
        if(m_created > toDateTime(0, 'UTC') AND m_created <= {{.T}}, m_created, toDateTime(0, 'UTC')) AS created,
        argMinIfMerge(dim_service_line) AS service_line,
        argMinIfMerge(dim_location_id) AS location_id,
        argMinIfMerge(dim_referrer_id) AS referrer_id,
        argMinIfMerge(dim_referrer_org_id) AS referrer_org_id,
        argMinIfMerge(dim_referrer_type) AS referrer_type,
        argMinIfMerge(dim_referrer_network) AS referrer_network,
        argMinIfMerge(dim_payer_class) AS payer_class,
        argMinIfMerge(dim_priority) AS priority,
        argMinIfMerge(dim_channel) AS channel,
{{- else}}
        -- the earliest referral.created and its dimensions (migration 0012)
        minIfMerge(created_event) AS m_created_event,
        tupleElement(m_created_event, {{created "at"}}) AS m_created,
        if(m_created > toDateTime(0, 'UTC') AND m_created <= {{.T}}, m_created, toDateTime(0, 'UTC')) AS created,
{{- range createdDimensions}}
        tupleElement(m_created_event, {{created .}}) AS {{.}},
{{- end}}
{{- end}}
        tupleElement(arrayReduce('max', arrayFilter(x -> x.1 <= {{.T}}, {{eventsMerge "destinations" .SetStates}})), 4)
            AS destination_network,
        minIfMerge(leaked_at) AS m_leaked,
        if(m_leaked > toDateTime(0, 'UTC') AND m_leaked <= {{.T}}, m_leaked, toDateTime(0, 'UTC')) AS leaked_event,
        minIfMerge(first_booked_at) AS m_first_booked,
        if(m_first_booked > toDateTime(0, 'UTC') AND m_first_booked <= {{.T}}, m_first_booked, toDateTime(0, 'UTC')) AS first_booked,
        minIfMerge(first_completed_at) AS m_first_completed,
        if(m_first_completed > toDateTime(0, 'UTC') AND m_first_completed <= {{.T}}, m_first_completed, toDateTime(0, 'UTC')) AS first_completed,
        {{eventsMerge "consult_notes" .SetStates}} AS notes,
        minIfMerge(closed_at) AS m_closed,
        if(m_closed > toDateTime(0, 'UTC') AND m_closed <= {{.T}}, m_closed, toDateTime(0, 'UTC')) AS closed,
        minIfMerge(info_requested_at) AS m_info_requested,
        if(m_info_requested > toDateTime(0, 'UTC') AND m_info_requested <= {{.T}}, m_info_requested, toDateTime(0, 'UTC')) AS info_requested
    FROM {{.DB}}.referral_facts
    GROUP BY referral_id
    HAVING m_first_event <= {{.T}}
) AS r
ANY LEFT JOIN
(
    -- access_at: the earliest slot among the referral's appointments that exist
    -- and are not cancelled as of T (the slot may lie after T)
    SELECT
        referral_id,
        minIf(tupleElement(last_slot, 4), tupleElement(last_event, 2) != {{rank "cancelled"}} AND tupleElement(last_slot, 4) > toDateTime(0, 'UTC')) AS access
    FROM
    (
        SELECT
            referral_id,
            appointment_id,
            arrayFilter(x -> x.1 <= {{.T}}, {{eventsMerge "history" .SetStates}}) AS h,
            -- latest event: greatest (time, status rank, event_id, slot)
            arrayReduce('max', h) AS last_event,
            -- latest booked/rescheduled
            arrayReduce('max', arrayFilter(x -> x.2 <= {{rank "rescheduled"}}, h)) AS last_slot
        FROM {{.DB}}.appointment_facts
        GROUP BY referral_id, appointment_id
        HAVING length(h) > 0
    )
    GROUP BY referral_id
) AS a USING (referral_id)
ORDER BY referral_id
