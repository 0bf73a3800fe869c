-- The kpi_created rows (about one per referral) in the primary-key range of
-- each of .Lookups, the dense ones: a lookup whose range holds many more
-- referrals than the lookup has is read sparsely instead (its facts joined
-- with its ids), as when referral ids do not sort by creation time (UUIDs),
-- where the range of a month's referrals spans nearly every id. Columns: the
-- count of each of .Lookups in order.
SELECT
{{- range $i, $l := .Lookups}}{{if $i}},{{end}}
    countIf({{template "in_range" $l}})
{{- end}}
FROM {{.DB}}.kpi_created
WHERE
{{- range $i, $l := .Lookups}}{{if $i}} OR{{end}}
    ({{template "in_range" $l}})
{{- end}}
