{{- /* kpi_state (migration 0018; PassKPIState): the statements of a pass over
the referrals touched in (.From, .To] (Unix seconds of kpi_touched's
touched_at). Each writes, for every creation time of each such referral (its
referral.created events in kpi_created), the merged states of its rows in one
facts table, in the facts' own state types: the GROUP BY merges the facts'
unmerged parts, and the states are written again with -MergeState, or from
their merged values with arrayReduce (-State) where 18.16 cannot take a
state through the JOIN (see "appointment_facts"). The touched referrals are
looked up twice
(kpi_created, the facts): IN, whose set prunes both by primary key. Aliases
differ from every column name (18.16 resolves aliases inside expressions). On
a cluster each shard reads its own log, facts and creations
(distributed_product_mode = 'local': they are sharded alike, by referral) and
the rows go back to it through the Distributed table, synchronously, before
the pass is marked. */ -}}

{{define "touched" -}}
SELECT referral_id FROM {{.DB}}.kpi_touched
WHERE touched_at > toDateTime({{.From}}, 'UTC') AND touched_at <= toDateTime({{.To}}, 'UTC')
{{- if gt .Buckets 1}} AND cityHash64(referral_id) % {{.Buckets}} = {{.Bucket}}{{end}}
{{- end}}

{{define "creations" -}}
{{template "creation_times" .}}
WHERE referral_id IN ({{template "touched" .}})
{{- end}}

{{define "creation_times" -}}
ALL INNER JOIN
(
    SELECT referral_id, event_time AS creation
    FROM {{.DB}}.kpi_created
    WHERE referral_id IN ({{template "touched" .}})
    GROUP BY referral_id, event_time
) AS creations USING referral_id
{{- end}}

{{define "settings"}}{{if .Cluster}}
SETTINGS distributed_product_mode = 'local', insert_distributed_sync = 1{{end}}{{end}}

{{- /* referral_facts: merged first, then each state made again from its
value (arrayReduce; a min of none is time 0, which no event has), so that
no aggregate state goes through the JOIN (see "appointment_facts"). */ -}}
{{define "referral_facts" -}}
INSERT INTO {{.DB}}.referral_facts_by_created (created_at, referral_id, first_event_at, created_event, destinations_list,
    accepted_at, closed_at, info_requested_at, auth_requested_at, auth_decisions_list, leaked_at, first_booked_at,
    first_completed_at, consult_notes_list)
SELECT
    creation, referral_id,
    arrayReduce('minState', [first_at]),
    arrayReduce('minIfState', [created], [toUInt8(tupleElement(created, 1) > toDateTime(0, 'UTC'))]),
    {{template "list_state" "destinations"}},
    {{template "min_state" "accepted"}},
    {{template "min_state" "closed"}},
    {{template "min_state" "info_requested"}},
    {{template "min_state" "auth_requested"}},
    {{template "list_state" "auth_decisions"}},
    {{template "min_state" "leaked"}},
    {{template "min_state" "first_booked"}},
    {{template "min_state" "first_completed"}},
    {{template "list_state" "consult_notes"}}
FROM
(
    SELECT
        referral_id,
        minMerge(first_event_at) AS first_at,
        minIfMerge(created_event) AS created,
        arrayDistinct(groupArrayIfMerge(destinations_list)) AS destinations,
        minIfMerge(accepted_at) AS accepted,
        minIfMerge(closed_at) AS closed,
        minIfMerge(info_requested_at) AS info_requested,
        minIfMerge(auth_requested_at) AS auth_requested,
        arrayDistinct(groupArrayIfMerge(auth_decisions_list)) AS auth_decisions,
        minIfMerge(leaked_at) AS leaked,
        minIfMerge(first_booked_at) AS first_booked,
        minIfMerge(first_completed_at) AS first_completed,
        arrayDistinct(groupArrayIfMerge(consult_notes_list)) AS consult_notes
    FROM {{.DB}}.referral_facts
    WHERE referral_id IN ({{template "touched" .}})
    GROUP BY referral_id
) AS facts
{{template "creation_times" .}}
{{- template "settings" .}}
{{- end}}

{{- /* created_key: the creation of referral_facts again as created_key
(migration 0020, schema.CreatedKeySQL), in a statement of its own: its state
is made by a GROUP BY, since arrayReduce('minIfState') of such a String
crashes 18.16. The row's other states are empty, which merge into nothing. */ -}}
{{define "created_key" -}}
INSERT INTO {{.DB}}.referral_facts_by_created (created_at, referral_id, created_key)
SELECT creation, referral_id, minIfState(ckey, ckey != '')
FROM
(
    SELECT referral_id, {{createdKeyOf "minIfMerge(created_event)"}} AS ckey
    FROM {{.DB}}.referral_facts
    WHERE referral_id IN ({{template "touched" .}})
    GROUP BY referral_id
) AS facts
{{template "creation_times" .}}
GROUP BY creation, referral_id
{{- template "settings" .}}
{{- end}}

{{define "min_state"}}arrayReduce('minIfState', [{{.}}], [toUInt8({{.}} > toDateTime(0, 'UTC'))]){{end}}

{{define "list_state"}}arrayReduce('groupArrayIfState', {{.}}, arrayMap(x -> toUInt8(1), {{.}})){{end}}

{{define "referral_stages" -}}
INSERT INTO {{.DB}}.referral_stages_by_created
SELECT
    creation, referral_id,
    minIfMergeState(rejected_at),
    groupUniqArrayIfMergeState(info_received),
    argMinIfMergeState(leak_reason)
FROM {{.DB}}.referral_stages
{{template "creations" .}}
GROUP BY creation, referral_id
{{- template "settings" .}}
{{- end}}

{{- /* appointment_facts: the history is merged first and its state made
again from the list (arrayReduce), so that no aggregate state goes through
the JOIN: 18.16 crashed (a segmentation fault, or a bogus 127 TiB
allocation) on groupArrayMergeState(history_list) joined with the creations
while the facts were being merged, in two of three passes right after a
backlog. */ -}}
{{define "appointment_facts" -}}
INSERT INTO {{.DB}}.appointment_facts_by_created
SELECT creation, referral_id, appointment_id, arrayReduce('groupArrayState', entries)
FROM
(
    SELECT referral_id, appointment_id, arrayDistinct(groupArrayMerge(history_list)) AS entries
    FROM {{.DB}}.appointment_facts
    WHERE referral_id IN ({{template "touched" .}})
    GROUP BY referral_id, appointment_id
) AS facts
{{template "creation_times" .}}
{{- template "settings" .}}
{{- end}}

{{- /* referral_patient_order (migration 0019): each referral's row of the
highest version, the one its readers take (argMax), as plain columns. */ -}}
{{define "referral_patient_order" -}}
INSERT INTO {{.DB}}.referral_patient_order_by_created
SELECT creation, referral_id, prev_at, top_version
FROM
(
    SELECT referral_id, argMax(prev_patient_referral_created_at, version) AS prev_at, max(version) AS top_version
    FROM {{.DB}}.referral_patient_order
    WHERE referral_id IN ({{template "touched" .}})
    GROUP BY referral_id
) AS facts
{{template "creation_times" .}}
{{- template "settings" .}}
{{- end}}

{{- /* referrer_notes (migration 0019): -MergeState, as "referral_stages":
a state made again from the merged list (arrayReduce) has no time zone in
its type on 18.16, which will not convert it to the column's. */ -}}
{{define "referrer_notes" -}}
INSERT INTO {{.DB}}.referrer_notes_by_created
SELECT creation, referral_id, groupUniqArrayMergeState(note_times)
FROM {{.DB}}.referrer_notes
{{template "creations" .}}
GROUP BY creation, referral_id
{{- template "settings" .}}
{{- end}}

{{- /* The state's keys by the other lookups' times (kpi_state_index): the
authorization decisions and the first completed visit from referral_facts,
the slots of the appointments from appointment_facts; merged before the
JOIN, like the states (see "appointment_facts"). */ -}}
{{define "index_referral_facts" -}}
INSERT INTO {{.DB}}.kpi_state_index (kind, at, created_at, referral_id)
SELECT tupleElement(entry, 1), tupleElement(entry, 2), creation, referral_id
FROM
(
    SELECT
        referral_id,
        arrayConcat(
            arrayMap(d -> tuple(toUInt8({{kind "decided"}}), tupleElement(d, 1)), arrayDistinct(groupArrayIfMerge(auth_decisions_list))),
            arrayMap(c -> tuple(toUInt8({{kind "completed"}}), c), arrayFilter(c -> c > toDateTime(0, 'UTC'), [minIfMerge(first_completed_at)]))
        ) AS entries
    FROM {{.DB}}.referral_facts
    WHERE referral_id IN ({{template "touched" .}})
    GROUP BY referral_id
) AS facts
{{template "creation_times" .}}
ARRAY JOIN entries AS entry
{{- template "settings" .}}
{{- end}}

{{define "index_appointment_facts" -}}
INSERT INTO {{.DB}}.kpi_state_index (kind, at, created_at, referral_id)
SELECT toUInt8({{kind "slot"}}), slot, creation, referral_id
FROM
(
    SELECT referral_id,
           arrayDistinct(arrayFilter(s -> s > toDateTime(0, 'UTC'), arrayMap(h -> tupleElement(h, 4), groupArrayMerge(history_list)))) AS slots
    FROM {{.DB}}.appointment_facts
    WHERE referral_id IN ({{template "touched" .}})
    GROUP BY referral_id
) AS facts
{{template "creation_times" .}}
ARRAY JOIN slots AS slot
{{- template "settings" .}}
{{- end}}
