{{- /* kpi_state (migration 0018; PassKPIState): the statements of a pass over
the referrals touched in (.From, .To] (Unix seconds of kpi_touched's
touched_at). Each writes, for every creation time of each such referral (its
referral.created events in kpi_created), the merged states of its rows in one
facts table; the GROUP BY merges the facts' unmerged parts and the -MergeState
functions keep the states' types. The touched referrals are looked up twice
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
ALL INNER JOIN
(
    SELECT referral_id, event_time AS creation
    FROM {{.DB}}.kpi_created
    WHERE referral_id IN ({{template "touched" .}})
    GROUP BY referral_id, event_time
) AS creations USING referral_id
WHERE referral_id IN ({{template "touched" .}})
{{- end}}

{{define "settings"}}{{if .Cluster}}
SETTINGS distributed_product_mode = 'local', insert_distributed_sync = 1{{end}}{{end}}

{{define "referral_facts" -}}
INSERT INTO {{.DB}}.referral_facts_by_created
SELECT
    creation, referral_id,
    minMergeState(first_event_at),
    minIfMergeState(created_event),
    groupArrayIfMergeState(destinations_list),
    minIfMergeState(accepted_at),
    minIfMergeState(closed_at),
    minIfMergeState(info_requested_at),
    minIfMergeState(auth_requested_at),
    groupArrayIfMergeState(auth_decisions_list),
    minIfMergeState(leaked_at),
    minIfMergeState(first_booked_at),
    minIfMergeState(first_completed_at),
    groupArrayIfMergeState(consult_notes_list)
FROM {{.DB}}.referral_facts
{{template "creations" .}}
GROUP BY creation, referral_id
{{- template "settings" .}}
{{- end}}

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

{{define "appointment_facts" -}}
INSERT INTO {{.DB}}.appointment_facts_by_created
SELECT creation, referral_id, appointment_id, groupArrayMergeState(history_list)
FROM {{.DB}}.appointment_facts
{{template "creations" .}}
GROUP BY creation, referral_id, appointment_id
{{- template "settings" .}}
{{- end}}

{{- /* The state's keys by the other lookups' times (kpi_state_index): the
authorization decisions and the first completed visit from referral_facts,
the slots of the appointments from appointment_facts. */ -}}
{{define "index_referral_facts" -}}
INSERT INTO {{.DB}}.kpi_state_index (kind, at, created_at, referral_id)
SELECT tupleElement(entry, 1), tupleElement(entry, 2), creation, referral_id
FROM
(
    SELECT
        creation, referral_id,
        arrayConcat(
            arrayMap(d -> tuple(toUInt8({{kind "decided"}}), tupleElement(d, 1)), groupArrayIfMerge(auth_decisions_list)),
            arrayMap(c -> tuple(toUInt8({{kind "completed"}}), c), arrayFilter(c -> c > toDateTime(0, 'UTC'), [minIfMerge(first_completed_at)]))
        ) AS entries
    FROM {{.DB}}.referral_facts
    {{template "creations" .}}
    GROUP BY creation, referral_id
)
ARRAY JOIN entries AS entry
{{- template "settings" .}}
{{- end}}

{{define "index_appointment_facts" -}}
INSERT INTO {{.DB}}.kpi_state_index (kind, at, created_at, referral_id)
SELECT toUInt8({{kind "slot"}}), slot, creation, referral_id
FROM
(
    SELECT creation, referral_id,
           arrayDistinct(arrayFilter(s -> s > toDateTime(0, 'UTC'), arrayMap(h -> tupleElement(h, 4), groupArrayMerge(history_list)))) AS slots
    FROM {{.DB}}.appointment_facts
    {{template "creations" .}}
    GROUP BY creation, referral_id
)
ARRAY JOIN slots AS slot
{{- template "settings" .}}
{{- end}}
