{{- /* The SELECTs of the materialized views that feed the PHI-free tables
from `events`, also used by the backfills of migrations 0002-0004 and 0008
and by 0009, which moved `events` into the PHI database (schema.PHIDatabase) and
recreated the views there. Parsed with every migration. Each reads
.From "events", which names the PHI database's table when rendered with
.WithEventsInPHI (migrate.go). Column order = table order. */ -}}

{{- /* referral_facts_select: referral_facts as migration 0017 left it, or
with .SetStates as 0012 did. The earliest referral.created is one minIf
state of the tuple (event_time, event_id, schema.CreatedDimensions...): the
tuple order makes the minimum the earliest creation, ties by event id,
carrying that event's dimensions, which is what one argMinIf state per
dimension held, for a fraction of the insert and merge work. The events kept
whole (destinations, decisions, notes) are lists since 0017
(schema.eventLists). */}}
{{define "referral_facts_select"}}
SELECT
    referral_id,
    minState(event_time) AS first_event_at,
    minIfState(tuple(event_time, event_id{{range createdDimensions}}, CAST({{.}} AS String){{end}}),
        event_type = 'referral.created') AS created_event,
    {{eventsState "destinations" .SetStates}}(
        tuple(event_time, toUInt8(event_type = 'referral.redirected'), event_id, CAST(destination_network AS String), destination_org_id),
        event_type IN ('referral.created', 'referral.redirected')) AS {{eventsColumn "destinations" .SetStates}},
    minIfState(event_time, event_type = 'referral.accepted') AS accepted_at,
    minIfState(event_time, event_type IN ('referral.cancelled', 'referral.rejected')) AS closed_at,
    minIfState(event_time, event_type = 'referral.info_requested') AS info_requested_at,
    minIfState(event_time, event_type = 'referral.auth_requested') AS auth_requested_at,
    {{eventsState "auth_decisions" .SetStates}}(
        tuple(event_time, event_id, toUInt8(event_type = 'referral.auth_approved')),
        event_type IN ('referral.auth_approved', 'referral.auth_denied')) AS {{eventsColumn "auth_decisions" .SetStates}},
    minIfState(event_time, event_type = 'referral.leaked') AS leaked_at,
    minIfState(event_time, event_type = 'appointment.booked') AS first_booked_at,
    minIfState(event_time, event_type = 'appointment.completed') AS first_completed_at,
    {{eventsState "consult_notes" .SetStates}}(tuple(event_time, event_id), event_type = 'communication.consult_note_sent') AS {{eventsColumn "consult_notes" .SetStates}}
FROM {{.From "events"}}
GROUP BY referral_id
{{- end}}

{{- /* referral_facts_select_argmin: referral_facts as migrations 0002-0011
had it (an argMinIf state per dimension), which those migrations create on a
new database before 0012 converts it; with .WithEventsInPHI it leaves out
dim_patient_token, the column 0009 drops. */}}
{{define "referral_facts_select_argmin"}}
SELECT
    referral_id,
    minState(event_time) AS first_event_at,
    maxState(event_time) AS last_event_at,
    minIfState(event_time, event_type = 'referral.created') AS created_at,
    argMinIfState(CAST(source AS String), tuple(event_time, event_id), event_type = 'referral.created') AS dim_source,
    argMinIfState(CAST(service_line AS String), tuple(event_time, event_id), event_type = 'referral.created') AS dim_service_line,
    argMinIfState(CAST(location_id AS String), tuple(event_time, event_id), event_type = 'referral.created') AS dim_location_id,
    argMinIfState(referrer_id, tuple(event_time, event_id), event_type = 'referral.created') AS dim_referrer_id,
    argMinIfState(referrer_org_id, tuple(event_time, event_id), event_type = 'referral.created') AS dim_referrer_org_id,
    argMinIfState(CAST(referrer_type AS String), tuple(event_time, event_id), event_type = 'referral.created') AS dim_referrer_type,
    argMinIfState(CAST(referrer_network AS String), tuple(event_time, event_id), event_type = 'referral.created') AS dim_referrer_network,
    argMinIfState(CAST(payer_class AS String), tuple(event_time, event_id), event_type = 'referral.created') AS dim_payer_class,
    argMinIfState(CAST(priority AS String), tuple(event_time, event_id), event_type = 'referral.created') AS dim_priority,
    argMinIfState(CAST(channel AS String), tuple(event_time, event_id), event_type = 'referral.created') AS dim_channel,
{{- if not .EventsInPHI}}
    argMinIfState(patient_token, tuple(event_time, event_id), event_type = 'referral.created') AS dim_patient_token,
{{- end}}
    groupUniqArrayIfState(
        tuple(event_time, toUInt8(event_type = 'referral.redirected'), event_id, CAST(destination_network AS String), destination_org_id),
        event_type IN ('referral.created', 'referral.redirected')) AS destinations,
    minIfState(event_time, event_type = 'referral.accepted') AS accepted_at,
    minIfState(event_time, event_type IN ('referral.cancelled', 'referral.rejected')) AS closed_at,
    minIfState(event_time, event_type = 'referral.info_requested') AS info_requested_at,
    minIfState(event_time, event_type = 'referral.info_received') AS info_received_at,
    minIfState(event_time, event_type = 'referral.auth_requested') AS auth_requested_at,
    groupUniqArrayIfState(
        tuple(event_time, event_id, toUInt8(event_type = 'referral.auth_approved')),
        event_type IN ('referral.auth_approved', 'referral.auth_denied')) AS auth_decisions,
    minIfState(event_time, event_type = 'referral.leaked') AS leaked_at,
    minIfState(event_time, event_type = 'appointment.booked') AS first_booked_at,
    minIfState(event_time, event_type = 'appointment.completed') AS first_completed_at,
    groupUniqArrayIfState(tuple(event_time, event_id), event_type = 'communication.consult_note_sent') AS consult_notes
FROM {{.From "events"}}
GROUP BY referral_id
{{- end}}

{{- /* appointment_rows: the events appointment_facts' views read, one
group per appointment. */}}
{{define "appointment_rows" -}}
FROM {{.From "events"}}
WHERE event_type IN ('appointment.booked', 'appointment.rescheduled', 'appointment.cancelled',
                     'appointment.no_show', 'appointment.completed')
  AND appointment_id != ''
GROUP BY referral_id, appointment_id
{{- end}}

{{- /* appointment_history: appointment_facts' history state (0003), a list
since 0017 (groupUniqArray with .SetStates). */}}
{{define "appointment_history" -}}
{{eventsState "history" .SetStates}}(tuple(
        event_time,
        toUInt8(multiIf(
            event_type = 'appointment.booked', {{rank "booked"}},
            event_type = 'appointment.rescheduled', {{rank "rescheduled"}},
            event_type = 'appointment.cancelled', {{rank "cancelled"}},
            event_type = 'appointment.no_show', {{rank "no_show"}},
            {{rank "completed"}})),
        event_id,
        scheduled_for)) AS {{eventsColumn "history" .SetStates}}
{{- end}}

{{define "appointment_facts_select"}}
SELECT
    referral_id,
    appointment_id,
    {{template "appointment_history" .}},
    minIfState(event_time, event_type = 'appointment.booked') AS first_booked_at,
    argMinIfState(CAST(location_id AS String), tuple(event_time, event_id), event_type = 'appointment.booked') AS booked_location_id,
    argMinIfState(CAST(visit_type AS String), tuple(event_time, event_id), event_type = 'appointment.booked') AS booked_visit_type
{{template "appointment_rows" .}}
{{- end}}

{{- /* appointment_facts_light (0015, with .SetStates; 0017):
appointment_facts_select's history only; the states no query reads
(first_booked_at, which referral_facts also holds, and the earliest booking's
location and visit type) are gone. */}}
{{define "appointment_facts_light_select"}}
SELECT
    referral_id,
    appointment_id,
    {{template "appointment_history" .}}
{{template "appointment_rows" .}}
{{- end}}

{{- /* kpi_index: aliases differ from every `events` column (ClickHouse 18.16
resolves aliases inside expressions). */}}
{{define "kpi_index_select"}}
SELECT
    tupleElement(entry, 1) AS kind,
    tupleElement(entry, 2) AS key_value,
    tupleElement(entry, 3) AS at,
    tupleElement(entry, 4) AS referral
FROM {{.From "events"}}
ARRAY JOIN multiIf(
    event_type = 'referral.created', [
        tuple(toUInt8({{kind "created"}}), '', event_time, referral_id),
        tuple(toUInt8({{kind "service_line_created"}}), CAST(service_line AS String), event_time, referral_id),
        tuple(toUInt8({{kind "referrer_created"}}), referrer_id, event_time, referral_id),
        tuple(toUInt8({{kind "service_line"}}), CAST(service_line AS String), toDateTime(0, 'UTC'), '')],
    event_type = 'appointment.completed', [tuple(toUInt8({{kind "completed"}}), '', event_time, referral_id)],
    event_type = 'appointment.booked', [
        tuple(toUInt8({{kind "slot"}}), '', scheduled_for, referral_id),
        tuple(toUInt8({{kind "booked"}}), '', event_time, referral_id)],
    event_type = 'appointment.rescheduled', [tuple(toUInt8({{kind "slot"}}), '', scheduled_for, referral_id)],
    event_type IN ('referral.cancelled', 'referral.rejected'), [tuple(toUInt8({{kind "closed"}}), '', event_time, referral_id)],
    [tuple(toUInt8({{kind "decided"}}), '', event_time, referral_id)]) AS entry
WHERE event_type IN ('referral.created', 'appointment.completed', 'appointment.booked', 'appointment.rescheduled',
                     'referral.auth_approved', 'referral.auth_denied', 'referral.cancelled', 'referral.rejected')
GROUP BY kind, key_value, at, referral
{{- end}}

{{- /* index_kinds_after_created: the kinds of every event type but
referral.created, the end of the ARRAY JOIN of kpi_index's views (0013, 0014),
and the event types they take. */}}
{{define "index_kinds_after_created"}}
    event_type = 'appointment.completed', [{{kind "completed"}}],
    event_type = 'appointment.booked', [{{kind "slot"}}, {{kind "booked"}}],
    event_type = 'appointment.rescheduled', [{{kind "slot"}}],
    event_type IN ('referral.cancelled', 'referral.rejected'), [{{kind "closed"}}],
    [{{kind "decided"}}]) AS Array(UInt8)) AS kind
WHERE event_type IN ('referral.created', 'appointment.completed', 'appointment.booked', 'appointment.rescheduled',
                     'referral.auth_approved', 'referral.auth_denied', 'referral.cancelled', 'referral.rejected')
{{- end}}

{{- /* kpi_index_light (0013): kpi_index_select's rows, made from the kinds
of each event (an array of constants) and the columns each kind takes rather
than from an array of tuples, which copied the event's strings into every
tuple; ARRAY JOIN then repeats only the columns read. */}}
{{define "kpi_index_light_select"}}
SELECT
    kind,
    multiIf(kind IN ({{kind "service_line_created"}}, {{kind "service_line"}}), CAST(service_line AS String),
            kind = {{kind "referrer_created"}}, referrer_id, '') AS key_value,
    multiIf(kind = {{kind "service_line"}}, toDateTime(0, 'UTC'), kind = {{kind "slot"}}, scheduled_for, event_time) AS at,
    if(kind = {{kind "service_line"}}, '', referral_id) AS referral
FROM {{.From "events"}}
ARRAY JOIN CAST(multiIf(
    event_type = 'referral.created', [{{kind "created"}}, {{kind "service_line_created"}}, {{kind "referrer_created"}}, {{kind "service_line"}}],{{template "index_kinds_after_created"}}
GROUP BY kind, key_value, at, referral
{{- end}}

{{- /* kpi_index_rows (0014): kpi_index_light_select's rows but those of
kind service_line, without its GROUP BY: the whole row is kpi_index's sorting
key, so its merges drop the copies an insert repeats (the KPI queries take a
referral twice as once), and the per-insert GROUP BY cost more CPU than the
rest of the view (0.85 of 1.8 CPU s per million events, 18.16). */}}
{{define "kpi_index_rows_select"}}
SELECT
    kind,
    multiIf(kind = {{kind "service_line_created"}}, CAST(service_line AS String),
            kind = {{kind "referrer_created"}}, referrer_id, '') AS key_value,
    if(kind = {{kind "slot"}}, scheduled_for, event_time) AS at,
    referral_id AS referral
FROM {{.From "events"}}
ARRAY JOIN CAST(multiIf(
    event_type = 'referral.created', [{{kind "created"}}, {{kind "service_line_created"}}, {{kind "referrer_created"}}],{{template "index_kinds_after_created"}}
{{- end}}

{{- /* kpi_service_lines (0014): the kpi_index rows of kind service_line, one
per service line an insert names (every referral.created would write one). */}}
{{define "kpi_service_lines_select"}}
SELECT
    toUInt8({{kind "service_line"}}) AS kind,
    CAST(service_line AS String) AS key_value,
    toDateTime(0, 'UTC') AS at,
    '' AS referral
FROM {{.From "events"}}
WHERE event_type = 'referral.created'
GROUP BY key_value
{{- end}}

{{define "kpi_referrers_select"}}
SELECT
    referrer_id,
    minState(event_time) AS first_created,
    argMinState(referral_id, tuple(event_time, event_id)) AS first_referral
FROM {{.From "events"}}
WHERE event_type = 'referral.created'
GROUP BY referrer_id
{{- end}}

{{define "kpi_created_select"}}
SELECT referral_id, event_time, event_id, service_line, location_id, referrer_id, referrer_type,
       referrer_network, payer_class, priority
FROM {{.From "events"}}
WHERE event_type = 'referral.created'
{{- end}}

{{- /* referral_stages (0008): state names differ from every `events` column
(ClickHouse 18.16 resolves aliases inside aggregates). */}}
{{define "referral_stages_select"}}
SELECT
    referral_id,
    minIfState(event_time, event_type = 'referral.rejected') AS rejected_at,
    groupUniqArrayIfState(event_time, event_type = 'referral.info_received') AS info_received,
    argMinIfState(CAST(reason AS String), tuple(event_time, event_id), event_type = 'referral.leaked') AS leak_reason
FROM {{.From "events"}}
WHERE event_type IN ('referral.rejected', 'referral.info_received', 'referral.leaked')
GROUP BY referral_id
{{- end}}

{{- /* patient_referrals (0010, PHI): per token and referral, the earliest
referral.created's (event_time, event_id), the order of referral_facts'
created_at and argMinIf keys. */}}
{{define "patient_referrals_select"}}
SELECT patient_token, referral_id, minState(tuple(event_time, event_id)) AS created
FROM {{.From "events"}}
WHERE event_type = 'referral.created' AND patient_token != ''
GROUP BY patient_token, referral_id
{{- end}}

{{- /* patient_referrals_light (0016): per token and referral the earliest
referral.created's time alone, all the recompute reads (sql/patient_order.sql):
a min of a DateTime, where the min of a (time, event id) tuple went through a
generic value per row. */}}
{{define "patient_referrals_light_select"}}
SELECT patient_token, referral_id, minState(event_time) AS first_created
FROM {{.From "events"}}
WHERE event_type = 'referral.created' AND patient_token != ''
GROUP BY patient_token, referral_id
{{- end}}

{{- /* referrer_notes (0010): the consult notes to the referrer (recipient
referrer or, by default, none). */}}
{{define "referrer_notes_select"}}
SELECT referral_id, groupUniqArrayState(event_time) AS note_times
FROM {{.From "events"}}
WHERE event_type = 'communication.consult_note_sent' AND recipient IN ('referrer', '')
GROUP BY referral_id
{{- end}}
