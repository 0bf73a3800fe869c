package schema

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/template"

	"github.com/referralops/referralops/internal/clickhouse"
)

// patientOrderData is sql/patient_order.sql's: the readers' database, its PHI
// database and the referrals whose patients to recompute.
type patientOrderData struct {
	DB, PHIDB string
	Referrals string // an SQL array of the ids (referralArray); "" for all
	// Global reads every row of patient_referrals (GLOBAL IN): what a
	// cluster's Distributed table needs, and on one server what costs less
	// for a batch whose patients hit most of its granules (patientReferrals.global).
	Global bool
	// Prewhere filters the rows by token before reading their states
	// (patientReferrals.prewhere).
	Prewhere bool
	// TupleState reads patient_referrals as migration 0010 made it: the
	// creation time is the first element of a (time, event id) minimum,
	// which migration 0016 replaced with first_created.
	TupleState bool
}

// PatientOrder is the data of the "patient_order" template for referrals
// (an SQL array, "" for every patient): migration 0010's backfill.
func (t templateData) PatientOrder(referrals string) patientOrderData {
	return patientOrderData{DB: t.DB, PHIDB: t.PHIDB(), Referrals: referrals, TupleState: true}
}

var patientOrderTemplate = sync.OnceValues(func() (*template.Template, error) {
	return parseTemplate(sqlFiles, "sql/patient_order.sql")
})

// PatientOrderSQL is the statement that recomputes referral_patient_order
// (migration 0010) of database db for every referral of the patients of the
// given referrals, or of every patient when referrals is empty. It names
// referral ids, never a patient token: the server looks the tokens up. With
// global the statement reads every row of patient_referrals (see
// patientReferrals.global), with prewhere only the states of the referrals'
// patients (patientReferrals.prewhere).
func PatientOrderSQL(db string, referrals []string, global, prewhere bool) (string, error) {
	return patientOrderSQL(db, referrals, global, prewhere, false)
}

// patientOrderSQL is PatientOrderSQL, with tupleState for a patient_referrals
// that migration 0016 has not changed yet (patientOrderData.TupleState).
func patientOrderSQL(db string, referrals []string, global, prewhere, tupleState bool) (string, error) {
	if err := clickhouse.ValidateIdentifier(db); err != nil {
		return "", err
	}
	tmpl, err := patientOrderTemplate()
	if err != nil {
		return "", err
	}
	ids := referralArray(referrals)
	var sb strings.Builder
	sb.Grow(len(ids) + 4096) // the rest of the statement is about 1.5 KiB
	err = tmpl.ExecuteTemplate(&sb, "patient_order", patientOrderData{DB: db, PHIDB: PHIDatabase(db), Referrals: ids,
		Global: global, Prewhere: prewhere, TupleState: tupleState})
	return sb.String(), err
}

// referralArray is an SQL expression of the array of ids ("" for none): one
// string literal of them joined by commas, split by the server, which 18.16
// parses in less than half the CPU time of an array of 50,000 literals
// (make bench's INSERTs name about 43,000). Referral ids are identifiers
// (EVENTS.md) without commas; should one have a comma, the ids go as an
// array of literals.
func referralArray(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	if !slices.ContainsFunc(ids, func(id string) bool { return strings.Contains(id, ",") }) {
		// Written once, in place: a held backlog's 200,000 ids are megabytes.
		var b strings.Builder
		b.Grow(len("splitByChar(',', '')") + len(ids) + sumLen(ids))
		b.WriteString("splitByChar(',', '")
		for i, id := range ids {
			if i > 0 {
				b.WriteByte(',')
			}
			_ = clickhouse.WriteEscaped(&b, id) // a Builder never fails
		}
		b.WriteString("')")
		return b.String()
	}
	quoted := make([]string, len(ids))
	for i, id := range ids {
		quoted[i] = clickhouse.Quote(id)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

func sumLen(ss []string) int {
	n := 0
	for _, s := range ss {
		n += len(s)
	}
	return n
}

// RefreshPatientOrder recomputes referral_patient_order for the patients of
// referrals (the stored referral.created events with a patient token): what a
// writer runs after storing events, before committing them. Nothing to do
// without referrals. It is idempotent, so a retry or a redelivery is
// harmless. The referrals go in statements that fit maxQuerySize, the
// max_query_size ctx runs them under (0: the server's default, 256 KiB); a
// batch of 50,000 referrals with UUID ids names about 2 MB. Each statement
// reads every patient's row (or the granules of its patients), so fewer,
// larger statements cost less: a patient whose referrals fall in two
// statements is recomputed twice, from all of them both times. When the
// referrals are half the table's rows or more, one statement recomputes every
// patient instead (patientReferrals.all).
func RefreshPatientOrder(ctx context.Context, exec clickhouse.Executor, db string, referrals []string, maxQuerySize int) error {
	referrals = slices.Clone(referrals) // sorted in place: one copy of its size
	slices.Sort(referrals)
	referrals = slices.DeleteFunc(slices.Compact(referrals), func(s string) bool { return s == "" })
	if len(referrals) == 0 {
		return nil
	}
	table, err := lookPatientReferrals(ctx, exec, db)
	if err != nil {
		return err
	}
	if table.all(len(referrals)) {
		stmt, err := table.statement(db, nil)
		if err == nil {
			err = exec.Exec(ctx, stmt)
		}
		if err != nil {
			return fmt.Errorf("refresh %s.referral_patient_order for every patient (%d referrals named): %w", db, len(referrals), err)
		}
		return nil
	}
	if maxQuerySize <= 0 {
		maxQuerySize = defaultMaxQuerySize
	}
	idBytes := maxQuerySize - patientOrderTextBytes
	for len(referrals) > 0 {
		n, size := 0, 0
		for n < len(referrals) && (n == 0 || size+len(referrals[n]) <= idBytes) {
			size += len(referrals[n]) + len("'', ")
			n++
		}
		stmt, err := table.statement(db, referrals[:n])
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

// patientReferrals is what decides how a recompute reads patient_referrals:
// whether it is a cluster's Distributed table, its rows, and whether it
// still has migration 0010's (time, event id) states: a writer upgraded
// before the database was migrated to 0016 keeps recomputing.
type patientReferrals struct {
	distributed bool
	rows        int64
	tupleState  bool
}

func lookPatientReferrals(ctx context.Context, q clickhouse.Querier, db string) (patientReferrals, error) {
	phi := clickhouse.Quote(PHIDatabase(db))
	rows, err := q.Query(ctx, "SELECT engine, toString((SELECT sum(rows) FROM system.parts WHERE database = "+phi+
		" AND table = 'patient_referrals' AND active)), toString((SELECT count() FROM system.columns WHERE database = "+phi+
		" AND table = 'patient_referrals' AND name = 'first_created')) FROM system.tables WHERE database = "+phi+" AND name = 'patient_referrals'")
	if err != nil {
		return patientReferrals{}, fmt.Errorf("the engine of %s.patient_referrals: %w", PHIDatabase(db), err)
	}
	if len(rows) != 1 || len(rows[0]) != 3 {
		return patientReferrals{}, fmt.Errorf("%s.patient_referrals does not exist (migration 0010)", PHIDatabase(db))
	}
	n, err := strconv.ParseInt(rows[0][1], 10, 64)
	if err != nil {
		return patientReferrals{}, fmt.Errorf("the rows of %s.patient_referrals: %w", PHIDatabase(db), err)
	}
	return patientReferrals{distributed: rows[0][0] == "Distributed", rows: n, tupleState: rows[0][2] == "0"}, nil
}

// statement is the recompute of the patients of referrals (nil: of every
// patient) from this table: how it reads depends on the table and on how
// many referrals it names.
func (p patientReferrals) statement(db string, referrals []string) (string, error) {
	n := len(referrals)
	return patientOrderSQL(db, referrals, n > 0 && p.global(n), n > 0 && p.prewhere(n), p.tupleState)
}

// global tells whether the recompute of n referrals reads every row of
// patient_referrals (GLOBAL IN, which 18.16 evaluates without the primary
// key) rather than the granules of their patients (IN). A cluster's
// Distributed table needs GLOBAL IN: the subquery runs once, over every
// shard. On one server the primary key pays while the patients hit a small
// share of the table's granules (8,192 rows, migration 0010): 5 referrals
// among 2.2 M patients read 41 thousand rows in 15 ms, not 2.25 million in
// 280 ms; but a backlog's batch of 10,000 referrals hits them all, and the
// scattered reads cost more CPU than the whole table (2.4 s against 1.5 s
// per million events ingested, make bench's backlog).
func (p patientReferrals) global(n int) bool {
	const granule = 8192
	return p.distributed || int64(n)*4 >= p.rows/granule
}

// prewhere tells whether the recompute of n referrals filters the rows of
// patient_referrals by token before reading their created states, which
// pays when the referrals' patients hold a small share of the rows: 43,000
// referrals among 2.2 M rows, 0.30 CPU s instead of 0.60; among 211,000, 0.30
// instead of 0.24 (18.16). A Distributed table's rows are not counted here
// (no parts): a cluster keeps the WHERE.
func (p patientReferrals) prewhere(n int) bool {
	return p.rows >= 16*int64(n)
}

// all tells whether the recompute of n referrals recomputes every patient,
// naming none: when they are half the rows of patient_referrals or more (a
// backlog held into a short history). Sending, parsing and looking up the
// ids then costs more than the patients it spares: 211,000 referrals of
// 211,000 rows, 0.32 CPU s on the server for every patient against 0.84 for
// theirs (18.16); into 2.2 M rows the ids pay. A Distributed table's rows
// are not counted here: a cluster names its referrals.
func (p patientReferrals) all(n int) bool {
	return !p.distributed && p.rows <= 2*int64(n)
}

// defaultMaxQuerySize is ClickHouse's default max_query_size (18.16 and
// current releases).
const defaultMaxQuerySize = 256 << 10

// patientOrderTextBytes is what a recompute statement may hold besides its
// quoted referral ids: about 1.5 KiB, with room to spare.
const patientOrderTextBytes = 16 << 10
