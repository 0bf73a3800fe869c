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
	// Global: patient_referrals is a Distributed table (a cluster), whose
	// shards need the patients' tokens sent to them (GLOBAL IN).
	Global bool
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
// referral ids, never a patient token: the server looks the tokens up. global
// is PatientReferralsDistributed's answer.
func PatientOrderSQL(db string, referrals []string, global bool) (string, error) {
	if err := clickhouse.ValidateIdentifier(db); err != nil {
		return "", err
	}
	tmpl, err := patientOrderTemplate()
	if err != nil {
		return "", err
	}
	quoted := make([]string, len(referrals))
	for i, id := range referrals {
		quoted[i] = clickhouse.Quote(id)
	}
	var sb strings.Builder
	err = tmpl.ExecuteTemplate(&sb, "patient_order", patientOrderData{DB: db, PHIDB: PHIDatabase(db), Referrals: strings.Join(quoted, ", "), Global: global})
	return sb.String(), err
}

// RefreshPatientOrder recomputes referral_patient_order for the patients of
// referrals (the stored referral.created events with a patient token): what a
// writer runs after storing events, before committing them. Nothing to do
// without referrals. It is idempotent, so a retry or a redelivery is
// harmless. The referrals go in statements of at most patientOrderIDBytes of
// ids, within the server's max_query_size (256 KiB by default; a batch of
// 50,000 referrals with UUID ids names about 2 MB): a patient whose referrals
// fall in two statements is recomputed twice, from all of them both times.
func RefreshPatientOrder(ctx context.Context, exec clickhouse.Executor, db string, referrals []string) error {
	referrals = slices.DeleteFunc(slices.Compact(slices.Sorted(slices.Values(referrals))), func(s string) bool { return s == "" })
	if len(referrals) == 0 {
		return nil
	}
	global, err := PatientReferralsDistributed(ctx, exec, db)
	if err != nil {
		return err
	}
	for len(referrals) > 0 {
		n, size := 0, 0
		for n < len(referrals) && (n == 0 || size+len(referrals[n]) <= patientOrderIDBytes) {
			size += len(referrals[n]) + len("'', ")
			n++
		}
		stmt, err := PatientOrderSQL(db, referrals[:n], global)
		if err != nil {
			return err
		}
		if err := exec.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("refresh %s.referral_patient_order for the patients of %d referrals: %w", db, n, err)
		}
		referrals = referrals[n:]
	}
	return nil
}

// PatientReferralsDistributed tells whether db's patient_referrals is a
// Distributed table (the database is on a cluster). The recompute then reads
// the patients' referrals with GLOBAL IN, which 18.16 evaluates without the
// primary key: every patient's row, for every batch. On one server a plain IN
// reads the granules of the batch's patients only (5 referrals among 2.2 M
// patients: 41 thousand rows and 15 ms, not 2.25 million and 280 ms).
func PatientReferralsDistributed(ctx context.Context, q clickhouse.Querier, db string) (bool, error) {
	rows, err := q.Query(ctx, "SELECT engine FROM system.tables WHERE database = "+clickhouse.Quote(PHIDatabase(db))+" AND name = 'patient_referrals'")
	if err != nil {
		return false, fmt.Errorf("the engine of %s.patient_referrals: %w", PHIDatabase(db), err)
	}
	if len(rows) != 1 || len(rows[0]) != 1 {
		return false, fmt.Errorf("%s.patient_referrals does not exist (migration 0010)", PHIDatabase(db))
	}
	return rows[0][0] == "Distributed", nil
}

// patientOrderIDBytes bounds the quoted referral ids of one recompute
// statement, which holds about 1.5 KiB besides them: within the default
// max_query_size (256 KiB) with room to spare, so that a batch of 50,000
// events (about 10,000 referral.created) is one statement.
const patientOrderIDBytes = 240 << 10
