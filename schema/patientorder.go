package schema

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"text/template"

	"github.com/referralops/referralops/internal/clickhouse"
)

// patientOrderData is sql/patient_order.sql's: the readers' database, its PHI
// database and the patients to recompute.
type patientOrderData struct {
	DB, PHIDB string
	Tokens    string // SQL string literals, comma-separated; "" for all
}

// PatientOrder is the data of the "patient_order" template for tokens (SQL
// literals, "" for every patient): migration 0010's backfill.
func (t templateData) PatientOrder(tokens string) patientOrderData {
	return patientOrderData{DB: t.DB, PHIDB: t.PHIDB(), Tokens: tokens}
}

var patientOrderTemplate = sync.OnceValues(func() (*template.Template, error) {
	return parseTemplate(sqlFiles, "sql/patient_order.sql")
})

// PatientOrderSQL is the statement that recomputes referral_patient_order
// (migration 0010) of database db for the referrals of the given patient
// tokens, or of every patient when tokens is empty. The tokens only go to
// the server in the statement; they are never logged by this package.
func PatientOrderSQL(db string, tokens []string) (string, error) {
	if err := clickhouse.ValidateIdentifier(db); err != nil {
		return "", err
	}
	tmpl, err := patientOrderTemplate()
	if err != nil {
		return "", err
	}
	quoted := make([]string, len(tokens))
	for i, tok := range tokens {
		quoted[i] = "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(tok) + "'"
	}
	var sb strings.Builder
	err = tmpl.ExecuteTemplate(&sb, "patient_order", patientOrderData{DB: db, PHIDB: PHIDatabase(db), Tokens: strings.Join(quoted, ", ")})
	return sb.String(), err
}

// RefreshPatientOrder recomputes referral_patient_order for the patients of
// tokens (each distinct, non-empty one): what a writer runs after storing
// events with referral.created, before committing them. Nothing to do without
// tokens. It is idempotent, so a retry or a redelivery is harmless.
func RefreshPatientOrder(ctx context.Context, exec clickhouse.Executor, db string, tokens []string) error {
	tokens = slices.DeleteFunc(slices.Compact(slices.Sorted(slices.Values(tokens))), func(s string) bool { return s == "" })
	if len(tokens) == 0 {
		return nil
	}
	stmt, err := PatientOrderSQL(db, tokens)
	if err != nil {
		return err
	}
	if err := exec.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("refresh %s.referral_patient_order for %d patients: %w", db, len(tokens), err)
	}
	return nil
}
