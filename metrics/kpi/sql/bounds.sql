-- The smallest and largest referral id of each lookup's referrals (kpi_index
-- kind and time range): the primary-key range in which the KPI queries then read
-- the facts ('' and '' when a lookup is empty), and how many index rows the
-- lookup has (density.sql compares that with the rows in the range). One read
-- of the index ranges. Columns: lo, hi, rows of each of .Lookups in order.
SELECT
{{- range $i, $l := .Lookups}}{{if $i}},{{end}}
    minIf(referral, {{template "lookup_cond" $l}}),
    maxIf(referral, {{template "lookup_cond" $l}}),
    countIf({{template "lookup_cond" $l}})
{{- end}}
FROM {{.DB}}.kpi_index
WHERE
{{- range $i, $l := .Lookups}}{{if $i}} OR{{end}}
    ({{template "lookup_cond" $l}})
{{- end}}

{{- define "lookup_cond" -}}
kind = {{.Kind}} AND key_value = '' AND at > toDateTime({{.From}}, 'UTC') AND at <= toDateTime({{.To}}, 'UTC')
{{- end}}
