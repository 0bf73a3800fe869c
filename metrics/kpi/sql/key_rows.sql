-- The referrals with a referral.created that names one of the keys (referrer
-- ids: kpi_index kind referrer_created; service lines: service_line_created)
-- at or before {{.Bound}}, per key; with .FirstOnly only each key's earliest. kpi_index rows are per referral.created,
-- so the caller confirms each referral's own dimensions with referral_dims.sql.
-- Columns: key_value, referral.
SELECT key_value, referral
FROM {{.DB}}.kpi_index
WHERE kind = {{.Kind}} AND key_value IN ({{.Values}}) AND at <= toDateTime({{.Bound}}, 'UTC')
{{- if .FirstOnly}}
ORDER BY key_value, at, referral
LIMIT 1 BY key_value
{{- end}}
