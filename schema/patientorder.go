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
// database and the referrals whose patients to recompute.
type patientOrderData struct {
	DB, PHIDB string
	Referrals string // SQL string literals, comma-separated; "" for all
}

// PatientOrder is the data of the "patient_order" template for referrals
// (SQL literals, "" for every patient): migration 0010's backfill.
func (t templateData) PatientOrder(referrals string) patientOrderData {
	return patientOrderData{DB: t.DB, PHIDB: t.PHIDB(), Referrals: referrals}
}

var patientOrderTemplate = sync.OnceValues(func() (*template.Template, error) {
	return parseTemplate(sqlFiles, "sql/patient_order.sql")
})

// PatientOrderSQL is the statement that recomputes referral_patient_order
// (migration 0010) of database db for every referral of the patients of the
// given referrals, or of every patient when referrals is empty. It names
// referral ids, never a patient token: the server looks the tokens up.
func PatientOrderSQL(db string, referrals []string) (string, error) {
	if err := clickhouse.ValidateIdentifier(db); err != nil {
		return "", err
	}
	tmpl, err := patientOrderTemplate()
	if err != nil {
		return "", err
	}
	quoted := make([]string, len(referrals))
	for i, id := range referrals {
		quoted[i] = "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(id) + "'"
	}
	var sb strings.Builder
	err = tmpl.ExecuteTemplate(&sb, "patient_order", patientOrderData{DB: db, PHIDB: PHIDatabase(db), Referrals: strings.Join(quoted, ", ")})
	return sb.String(), err
}

// RefreshPatientOrder recomputes referral_patient_order for the patients of
// referrals (the stored referral.created events with a patient token): what a
// writer runs after storing events, before committing them. Nothing to do
// without referrals. It is idempotent, so a retry or a redelivery is
// harmless.
func RefreshPatientOrder(ctx context.Context, exec clickhouse.Executor, db string, referrals []string) error {
	referrals = slices.DeleteFunc(slices.Compact(slices.Sorted(slices.Values(referrals))), func(s string) bool { return s == "" })
	if len(referrals) == 0 {
		return nil
	}
	stmt, err := PatientOrderSQL(db, referrals)
	if err != nil {
		return err
	}
	if err := exec.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("refresh %s.referral_patient_order for the patients of %d referrals: %w", db, len(referrals), err)
	}
	return nil
}
