{{- /*
Building blocks of the KPI queries, shared through text/template. Nothing here
is a statement of its own. Conventions of every KPI query:
  * T is the evaluation time; every fact is "as of T": events after T are
    ignored, so a past T replays exactly.
  * Referrals are found in kpi_index by a primary-key range (kind, at) and
    their facts read from referral_facts / appointment_facts / kpi_created in
    the primary-key range of their ids, never by scanning history.
  * Times leave as Unix seconds (toInt64); no Nullable, DateTime64, window or
    JSON functions, so the text of every result is the same on ClickHouse 18.16
    and current releases.
  * No alias equals a column name used in another expression: ClickHouse 18.16
    resolves aliases inside expressions, even inside an aggregate's arguments.
*/ -}}

{{- /* ids: the referrals with a kpi_index row of .Kind in (.From, .To], as the
column referral_id; with .Open, less those booked or closed in that span (a
superset of the open ones: the facts decide the rest). An id may come twice
(a referral with two rows in the span, or rows not merged yet): that only
merges the same aggregate states twice, which changes nothing. A lookup reads a
facts table in the primary-key range [.Lo, .Hi] of these ids (fetched by
bounds.sql beforehand) and, when sparse, joins it with this list, which runs
once. Lookups never use IN (subquery): ClickHouse 18.16 runs such a subquery
again for every level of query nesting and leaves its reads out of read_rows. */ -}}
{{define "ids" -}}
{{- if .Open -}}
SELECT referral_id FROM
(
    {{template "ids" .WithoutOpen}}
) AS created_ids
{{template "unsettled" .}}
{{- else -}}
SELECT referral AS referral_id FROM {{.DB}}.kpi_index
WHERE kind = {{.Kind}} AND key_value = '' AND at > toDateTime({{.From}}, 'UTC') AND at <= toDateTime({{.To}}, 'UTC')
{{- end}}
{{- end}}

{{- /* unsettled: the JOIN and WHERE that leave out of a FROM the rows of
the referrals booked or closed in (.From, .To]: never open again, whatever
comes later. A JOIN, not NOT IN (subquery), which 18.16 runs again at every
level of nesting: in the backlog query that took 0.7 s against 0.3 s. */ -}}
{{define "unsettled" -}}
ANY LEFT JOIN
(
    SELECT referral AS referral_id, toUInt8(1) AS settled FROM {{.DB}}.kpi_index
    WHERE (kind = {{kind "booked"}} AND key_value = '' AND at > toDateTime({{.From}}, 'UTC') AND at <= toDateTime({{.To}}, 'UTC'))
       OR (kind = {{kind "closed"}} AND key_value = '' AND at > toDateTime({{.From}}, 'UTC') AND at <= toDateTime({{.To}}, 'UTC'))
) AS settled_ids USING referral_id
WHERE settled = 0
{{- end}}

{{- /* restrict: for sparse lookups (.Join), the JOIN with "ids" that keeps
the referrals looked up; dense ones (most ids in [.Lo, .Hi] belong) skip it and
let the caller's own condition on the facts (e.g. created_at in the window)
decide, which reads the index once less. A lookup is dense only while
density.sql finds its range that tight (sequential ids), else it joins. */ -}}
{{define "restrict" -}}
{{if .Join}}ALL INNER JOIN ({{template "ids" .}}) AS lookup USING referral_id
{{end}}
{{- end}}

{{- /* in_range: the primary-key range of a lookup. */ -}}
{{define "in_range" -}}
referral_id >= {{.Lo}} AND referral_id <= {{.Hi}}
{{- end}}

{{- /* referrals: KPIS.md's per-referral facts as of T for the referrals of
"ids", one row per referral whose referral.created is at or before T (a
referral without one is in no KPI) and, for a lookup by creation time, whose
created_at is in the lookup's span. The m_* columns are the all-time earliest
times (0 when none); a fact holds as of T when its time is > 0 and <= T. Since
they are minima, the as-of value of each is the stored one whenever that is <= T.
Columns a query does not use are not computed. m_created and the dimensions
come from kpi_created ("created"), plain columns: merging referral_facts'
created_event state cost more than reading, sorting and joining them (0.23 s
of a 1.23 s refresh at 1 M events, make bench). The facts rows are joined with
those created rows before their states merge, so a sparse lookup reads its ids
once (in "created") and only the referrals created by T merge. With .Org the
row also has rorg, the referrer_org_id kpi_created lacks, from created_event.
Read from the KPI state (.State), they all come from its created_key ("ckey",
"created_fields"). */ -}}
{{define "referrals" -}}
SELECT
    referral_id AS rid,
    {{if .State}}minIf(ckey, ckey != '') AS ck,
    {{template "created_fields"}}{{else}}{{template "created_any"}}{{end}},
    {{template "destination" .}} AS dest,
    -- the destination network of the earliest referral.created (ties by event id)
    tupleElement(arraySort(arrayFilter(x -> x.2 = 0, {{events "destinations"}}))[1], 4) AS first_dest,
    minIfMerge(leaked_at) AS m_leaked,
    minIfMerge(first_booked_at) AS m_booked,
    minIfMerge(first_completed_at) AS m_completed,
    minIfMerge(closed_at) AS m_closed,
    minIfMerge(info_requested_at) AS m_info,
    minIfMerge(accepted_at) AS m_accepted,
    minIfMerge(auth_requested_at) AS m_auth_req,
    {{events "consult_notes"}} AS notes,
    {{events "auth_decisions"}} AS auths,
{{- if .Org}}
    {{if .State}}{{createdKey "ck" "referrer_org_id"}}{{else}}tupleElement(minIfMerge(created_event), {{created "referrer_org_id"}}){{end}} AS rorg,
{{- end}}
    toUInt8(dest = 'out' OR (m_leaked > toDateTime(0, 'UTC') AND m_leaked <= {{.T}})) AS is_leaked,
    toUInt8(m_booked > toDateTime(0, 'UTC') AND m_booked <= {{.T}}) AS is_booked,
    toUInt8(m_completed > toDateTime(0, 'UTC') AND m_completed <= {{.T}}) AS is_completed,
    toUInt8(m_closed > toDateTime(0, 'UTC') AND m_closed <= {{.T}}) AS is_closed,
    toUInt8(m_info > toDateTime(0, 'UTC') AND m_info <= {{.T}}) AS is_incomplete
{{- if .State}}
FROM
(
    {{template "by_created" (args "L" . "Table" "referral_facts" "Columns" "referral_id, destinations_list, leaked_at, first_booked_at, first_completed_at, closed_at, info_requested_at, accepted_at, auth_requested_at, consult_notes_list, auth_decisions_list")}}
)
GROUP BY referral_id
HAVING {{template "created_in_span" .}}
{{- else}}
FROM {{.DB}}.referral_facts
{{template "created_join" .}}WHERE {{template "in_range" .}}
GROUP BY referral_id
{{- end}}
{{- end}}

{{- /* by_created: the rows of the facts table .Table (its columns .Columns)
of the referrals of lookup .L, from the KPI state (migration 0018,
schema.PassKPIState): the state's rows at the creation times in the lookup's
span, or for a lookup by another time those kpi_state_index gives for its
span, and the facts of the referrals touched after the state's last pass
(.L.Covered), which the state may not hold yet. Merged per referral they are
the referral's facts (the states are minima, and sets or lists read through
arrayDistinct), and every referral of the lookup is among them, whatever the
pass has reached; the callers filter by the facts' times as they do the
legacy reads' ("created_in_span" for the creation). An Open lookup keeps
only the rows of the referrals not settled ("unsettled") before their states
merge, as "ids" does: merging a whole year's (created_event above all) made
the backlog query 0.42 s against 0.31 s (10 M events, random ids). Every
read is of a primary-key range or of listed keys, not of the whole id range,
which ids that do not sort by time make all of them. Of referral_facts it
also gives, after .Columns, ckey: the creation as one String (migration 0020,
schema.CreatedKeySQL): the state's created_key, and for the touched
referrals the facts' created_event packed; "" when none. The readers take
its minimum instead of merging created_event, a tuple that 18.16 reads value
by value: about 0.35 s less server time per 10 M-event refresh with random
ids. Each branch names its columns: a SELECT * that the caller narrows cost
18.16 10-30 ms more per query there. */ -}}
{{define "by_created" -}}
{{- $ckey := eq .Table "referral_facts"}}
{{- if .L.Open -}}
SELECT {{.Columns}}{{if $ckey}}, ckey{{end}} FROM
(
    {{template "by_created" (args "L" .L.WithoutOpen "Table" .Table "Columns" .Columns)}}
) AS facts
{{template "unsettled" .L}}
{{- else -}}
SELECT {{.Columns}}
{{- if $ckey}},
    -- ckey: the creation as one String (migration 0020, schema.CreatedKeySQL)
    finalizeAggregation(created_key) AS ckey
{{- end}}
FROM {{.L.DB}}.{{.Table}}_by_created
WHERE {{template "state_span" .L}}
UNION ALL
SELECT {{.Columns}}{{if $ckey}}, {{createdKeyOf "finalizeAggregation(created_event)"}} AS ckey{{end}}
FROM {{.L.DB}}.{{.Table}}
WHERE {{template "touched_since" .L}}
{{- end}}
{{- end}}

{{- /* state_span: the state's rows of a lookup's span: by creation time, or
by the keys kpi_state_index gives for its times. */ -}}
{{define "state_span" -}}
{{- if .ByCreation -}}
created_at > toDateTime({{.From}}, 'UTC') AND created_at <= toDateTime({{.To}}, 'UTC')
{{- else -}}
(created_at, referral_id) IN
(
    SELECT created_at, referral_id FROM {{.DB}}.kpi_state_index
    WHERE kind = {{.Kind}} AND at > toDateTime({{.From}}, 'UTC') AND at <= toDateTime({{.To}}, 'UTC')
)
{{- end}}
{{- end}}

{{- /* touched_since: the referrals touched after the state's last pass. */ -}}
{{define "touched_since" -}}
referral_id IN (SELECT referral_id FROM {{.DB}}.kpi_touched WHERE touched_at > toDateTime({{.Covered}}, 'UTC'))
{{- end}}

{{- /* created_fields: m_created and the dimensions from the merged
created_key ck (migration 0020, schema/createdkey.go): the earliest
referral.created, ties by event id, as kpi_created's first row ("created"). */ -}}
{{define "created_fields" -}}
{{createdKey "ck" "at"}} AS m_created,
    {{createdKey "ck" "service_line"}} AS sl,
    {{createdKey "ck" "location_id"}} AS loc,
    {{createdKey "ck" "referrer_id"}} AS referrer,
    {{createdKey "ck" "referrer_type"}} AS rtype,
    {{createdKey "ck" "referrer_network"}} AS rnet,
    {{createdKey "ck" "payer_class"}} AS payer,
    {{createdKey "ck" "priority"}} AS prio
{{- end}}

{{- /* created_in_span: the referral has a referral.created (a minIf of none
is time 0) at or before T; of a lookup by creation time, its earliest in the
lookup's span. */ -}}
{{define "created_in_span" -}}
m_created > toDateTime(0, 'UTC') AND m_created <= {{.T}}
{{- if .ByCreation}} AND toInt64(m_created) > {{.From}} AND toInt64(m_created) <= {{.To}}{{end}}
{{- end}}

{{- /* created_join: the JOIN of a facts table's rows with the "created" rows
of their referrals created by T, before the facts' states merge: only those
referrals merge (of a lookup by creation time, only those created in its span:
ByCreation), and a sparse lookup reads its ids once. The columns are
renamed c_* (18.16 resolves an alias inside any() of a column of its name);
"created_any" gives them their names back in the GROUP BY referral_id. */ -}}
{{define "created_join" -}}
ALL INNER JOIN
(
    SELECT rid AS referral_id, m_created AS c_created, sl AS c_sl, loc AS c_loc,
           referrer AS c_referrer, rtype AS c_rtype, rnet AS c_rnet, payer AS c_payer, prio AS c_prio
    FROM
    (
        {{template "created" .}}
    )
    WHERE m_created <= {{.T}}{{if .ByCreation}} AND toInt64(m_created) > {{.From}} AND toInt64(m_created) <= {{.To}}{{end}}
) AS created_rows USING referral_id
{{end}}

{{- define "created_any" -}}
any(c_created) AS m_created,
    any(c_sl) AS sl,
    any(c_loc) AS loc,
    any(c_referrer) AS referrer,
    any(c_rtype) AS rtype,
    any(c_rnet) AS rnet,
    any(c_payer) AS payer,
    any(c_prio) AS prio
{{- end}}

{{- /* facts_of: the FROM of the rows of the facts table .Table (its columns
.Columns) of the referrals of lookup .L: from the KPI state ("by_created") or
the table's primary-key range, joined with the ids when sparse. */ -}}
{{define "facts_of" -}}
{{- if .L.State -}}
FROM
(
    {{template "by_created" .}}
)
{{- else -}}
FROM {{.L.DB}}.{{.Table}}
{{template "restrict" .L}}WHERE {{template "in_range" .L}}
{{- end}}
{{- end}}

{{- /* stages: the facts of referral_stages (migration 0008) of the referrals
of "ids", which referral_facts does not hold: the earliest rejection, every
info_received time and the earliest leak's reason. Only referrals with such
an event have a row; a LEFT JOIN gives the others 0, [] and ''. */ -}}
{{define "stages" -}}
SELECT
    referral_id AS rid,
    minIfMerge(rejected_at) AS m_rejected,
    groupUniqArrayIfMerge(info_received) AS info_rcvd,
    argMinIfMerge(leak_reason) AS first_leak_reason
{{template "facts_of" (args "L" . "Table" "referral_stages" "Columns" "referral_id, rejected_at, info_received, leak_reason")}}
GROUP BY referral_id
{{- end}}

{{- /* destination: the final destination network as of T, from the latest
referral.created/redirected at or before T (a redirect wins a tie, then the
greater event id); see migration 0002. */ -}}
{{define "destination" -}}
tupleElement(arrayReverseSort(arrayFilter(x -> x.1 <= {{.T}}, {{events "destinations"}}))[1], 4)
{{- end}}

{{- /* created: the referrals of "ids" with their created_at (m_created) and
dimensions: the first row of each in kpi_created, i.e. its earliest
referral.created, ties by event id (the order of referral_facts'
created_event). Plain columns: for a whole year of referrals, where merging
referral_facts' states would dominate the referrer activity query (and do
"referrals"). The caller keeps the rows with m_created <= T. */ -}}
{{define "created" -}}
{{- if .State -}}
SELECT rid, {{template "created_fields"}}
FROM
(
    SELECT referral_id AS rid, minIf(ckey, ckey != '') AS ck
    FROM
    (
        {{template "by_created" (args "L" . "Table" "referral_facts" "Columns" "referral_id")}}
    )
    GROUP BY referral_id
)
WHERE {{template "created_in_span" .}}
{{- else -}}
SELECT {{template "created_columns"}}
FROM {{.DB}}.kpi_created
{{template "restrict" .}}WHERE {{template "in_range" .}}
ORDER BY referral_id, event_time, event_id
LIMIT 1 BY referral_id
{{- end}}
{{- end}}

{{define "created_columns" -}}
referral_id AS rid,
    event_time AS m_created,
    CAST(service_line AS String) AS sl,
    CAST(location_id AS String) AS loc,
    referrer_id AS referrer,
    CAST(referrer_type AS String) AS rtype,
    CAST(referrer_network AS String) AS rnet,
    CAST(payer_class AS String) AS payer,
    CAST(priority AS String) AS prio
{{- end}}

{{- /* appointments: per appointment of the referrals of "ids", as of T: its
status rank (of its latest event; ties: completed > no_show > cancelled >
rescheduled > booked, then event id; schema.StatusRank) and its slot (scheduled_for of its
latest booked/rescheduled; 0 when it has none). Appointments without an event at
or before T do not exist yet. With .Created (WithCreated), only the referrals
created by T, with their created columns ("created_join"). */ -}}
{{define "appointments" -}}
{{- if and .State .Created -}}
SELECT *
FROM
(
    {{template "appointments" .WithoutCreated}}
) AS ap
ALL INNER JOIN
(
    {{template "created" .}}
) AS cr USING (rid)
{{- else -}}
SELECT
    referral_id AS rid,
{{- if .Created}}
    {{template "created_any"}},
{{- end}}
    -- its events at or before T, latest first: sorted once for both
    arrayReverseSort(arrayFilter(x -> x.1 <= {{.T}}, {{events "history"}})) AS h,
    tupleElement(h[1], 2) AS last_rank,
    tupleElement(arrayFirst(x -> x.2 <= {{rank "rescheduled"}}, h), 4) AS slot_at
{{- if .State}}
FROM
(
    {{template "by_created" (args "L" . "Table" "appointment_facts" "Columns" "referral_id, appointment_id, history_list")}}
)
{{- else}}
FROM {{.DB}}.appointment_facts
{{if .Created}}{{template "created_join" .}}{{else}}{{template "restrict" .}}{{end}}WHERE {{template "in_range" .}}
{{- end}}
GROUP BY referral_id, appointment_id
HAVING length(h) > 0
{{- end}}
{{- end}}

{{- /* group_keys: one row per breakdown group a referral belongs to, e.g. '' (the
totals) and 'service_line=cardiology'. Values never contain '|' or '=' (enums
and identifiers of EVENTS.md), so the key parses back. */ -}}
{{define "group_keys" -}}
arrayJoin([{{range $i, $b := .Breakdowns}}{{if $i}}, {{end}}{{if not $b}}''{{else}}concat({{range $j, $d := $b}}{{if $j}}, '|', {{end}}'{{$d.Name}}=', {{$d.Column}}{{end}}){{end}}{{end}}])
{{- end}}

{{- /* windows: one row per window (seconds) of the query, as column w; the
query keeps the rows whose time lies in the window with a WHERE on w (not a
lambda: ClickHouse 18.16 prunes subquery columns used only inside lambdas). */ -}}
{{define "windows" -}}
arrayJoin([{{range $i, $w := .Windows}}{{if $i}}, {{end}}toInt64({{$w}}){{end}}])
{{- end}}

{{- /* distribution: count, sum, exact nearest-rank p50 and p90 (the value at
1-based position ceil(p*n) = intDiv(P*n + 99, 100) for P percent, in integers so
no float rounding can move it; position 0 of an empty array reads 0, which the
caller turns into null by the count) and cumulative histogram counts of the
sorted array .Name. */ -}}
{{define "distribution" -}}
length({{.Name}}) AS {{.Name}}_count,
    arraySum({{.Name}}) AS {{.Name}}_sum,
    {{.Name}}[intDiv(50 * length({{.Name}}) + 99, 100)] AS {{.Name}}_p50,
    {{.Name}}[intDiv(90 * length({{.Name}}) + 99, 100)] AS {{.Name}}_p90
    {{- range $i, $b := .Buckets}},
    arrayCount(x -> x <= {{$b}}, {{$.Name}}) AS {{$.Name}}_le_{{$i}}{{end}}
{{- end}}
