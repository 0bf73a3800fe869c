package schema

import (
	"strings"
	"sync"
	"text/template"
)

// The referrer attention query's template (sql/referrer_attention.sql),
// parsed on first use like the facts query's: migrations embed it too, so a
// package-level initializer would be an initialization cycle.
var (
	referrerAttentionOnce sync.Once
	referrerAttentionTmpl *template.Template
	referrerAttentionErr  error
)

func referrerAttentionTemplate() (*template.Template, error) {
	referrerAttentionOnce.Do(func() {
		referrerAttentionTmpl, referrerAttentionErr = parseTemplate(sqlFiles, "sql/referrer_attention.sql")
	})
	return referrerAttentionTmpl, referrerAttentionErr
}

// ReferrerAttentionSQL renders KPIS.md's referrer attention, one row per
// referrer in the liaisons' order, over source (a query of per-referral facts
// as of T with the columns sql/referrer_attention.sql lists) as of t, a SQL
// Int64 expression of T in Unix seconds. The view v_referrer_attention
// (migration 0007) and the as-of query of package metrics/kpi both render it,
// so the levels are defined once.
func ReferrerAttentionSQL(source, t string) (string, error) {
	tmpl, err := referrerAttentionTemplate()
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	err = tmpl.Execute(&sb, struct{ Source, T string }{Source: source, T: t})
	return sb.String(), err
}
