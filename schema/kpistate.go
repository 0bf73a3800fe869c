package schema

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/referralops/referralops/internal/clickhouse"
)

// KPIStateTables are the facts tables the KPI state keeps again keyed by the
// referral's creation time (migrations 0018, 0019): table X as X_by_created,
// with the columns of X after created_at.
var KPIStateTables = []string{"referral_facts", "referral_stages", "appointment_facts", "referral_patient_order", "referrer_notes"}

// kpiStateStatements are the templates of sql/kpi_state.sql a pass runs:
// each state table's, referral_facts' created_key, then the index of the
// keys.
func kpiStateStatements() []string {
	return append(KPIStateTables[:len(KPIStateTables):len(KPIStateTables)], "created_key", "index_referral_facts", "index_appointment_facts")
}

// kpiStateReads are the tables a pass reads; kpiStateWrites those it
// writes.
func kpiStateReads() []string {
	return append([]string{"kpi_touched", "kpi_created", "kpi_state_passes"}, KPIStateTables...)
}

func kpiStateWrites() []string {
	w := []string{"kpi_state_passes", "kpi_state_index"}
	for _, t := range KPIStateTables {
		w = append(w, t+"_by_created")
	}
	return w
}

// DefaultKPIStateMargin is how long a pass leaves the latest touches alone.
// kpi_touched's touched_at is the server's now() when its view ran for a
// block of events; the facts views of the same block may finish later (they
// run one after another, or side by side with parallel_view_processing). A
// pass must not read a touch before the facts it tells of are stored, or it
// would mark the referral covered without them. A minute is many times what
// a block's views take on a loaded 2-core server (seconds), and more than the
// clocks of a cluster's servers drift apart. The readers read the facts of
// the referrals touched since the last pass, so the margin costs them reads,
// never a number.
const DefaultKPIStateMargin = time.Minute

// KPIStateVersion is the version of the state the passes of this release
// write (kpi_state_passes.state_version): 2 since migration 0020 added
// created_key, which the readers take instead of created_event. A pass of an
// earlier release (version 0) may have stored rows without it while the
// migration ran, so neither the readers nor the next pass count those passes
// (KPIStateCoveredSQL): the referrals they covered are read from the facts
// until a pass of this version covers them.
const KPIStateVersion = 2

// KPIStateCoveredSQL is the query of the time up to which the passes of
// KPIStateVersion or later have covered db's touches (0 before the first).
func KPIStateCoveredSQL(db string) string {
	return fmt.Sprintf("SELECT toString(toInt64(max(covered_to))) FROM %s.kpi_state_passes WHERE state_version >= %d", db, KPIStateVersion)
}

// kpiStateCovered runs KPIStateCoveredSQL: Unix seconds, 0 before the first
// pass of KPIStateVersion.
func kpiStateCovered(ctx context.Context, q clickhouse.Querier, db string) (int64, error) {
	rows, err := q.Query(ctx, KPIStateCoveredSQL(db))
	if err == nil && len(rows) != 1 {
		err = fmt.Errorf("%d rows", len(rows))
	}
	var covered int64
	if err == nil {
		covered, err = strconv.ParseInt(rows[0][0], 10, 64)
	}
	if err != nil {
		return 0, fmt.Errorf("the last pass: %w", err)
	}
	return covered, nil
}

// ErrNoKPIState means the database has no KPI state (migration 0018 has
// not run): there is nothing to pass yet.
var ErrNoKPIState = errors.New("no KPI state (migration 0018)")

// KPIStatePass is what one pass did.
type KPIStatePass struct {
	// From, To: the touches it covered, (From, To].
	From, To time.Time
	// Referrals is how many distinct referrals were touched in that span.
	Referrals int64
}

var kpiStateTemplate = sync.OnceValues(func() (*template.Template, error) {
	return parseTemplate(sqlFiles, "sql/kpi_state.sql")
})

// kpiStateData is sql/kpi_state.sql's.
type kpiStateData struct {
	DB       string
	From, To int64
	Cluster  bool
	// Buckets > 1 splits the touched referrals by hash: each statement
	// writes those of Bucket.
	Buckets, Bucket int64
}

// kpiStateReferralsPerStatement bounds the referrals one statement of a pass
// writes: merging the facts of 1.59 M referrals at once took 1.9 GiB on
// 18.16 (the first pass over the bench's 10 M events), and the writer's
// profile allows 4 GB. A pass over more (the first one over a large
// history, or after a long stop) writes them in hash buckets of about this
// many.
var kpiStateReferralsPerStatement int64 = 250_000

// PassKPIState brings the KPI state of database db up to the touches
// margin before the server's now (DefaultKPIStateMargin when 0): for every
// referral touched since the last pass's covered_to, it writes the merged
// states of its facts at each of its creation times, then records the pass.
// It is idempotent and may run concurrently with itself (another ingester):
// the states only merge. A failure leaves covered_to where it was, so the
// next pass does it again. It returns ErrNoKPIState before migration 0018.
func PassKPIState(ctx context.Context, exec clickhouse.Executor, db string, margin time.Duration) (KPIStatePass, error) {
	if err := clickhouse.ValidateIdentifier(db); err != nil {
		return KPIStatePass{}, err
	}
	if margin <= 0 {
		margin = DefaultKPIStateMargin
	}
	q := clickhouse.Quote(db)
	rows, err := exec.Query(ctx, "SELECT engine, toString(toInt64(now())) FROM system.tables WHERE database = "+q+" AND name = 'kpi_touched'")
	if err != nil {
		return KPIStatePass{}, fmt.Errorf("kpi state of %s: %w", db, err)
	}
	if len(rows) == 0 {
		return KPIStatePass{}, ErrNoKPIState
	}
	now, err := strconv.ParseInt(rows[0][1], 10, 64)
	if err != nil {
		return KPIStatePass{}, fmt.Errorf("kpi state of %s: the server's time %q: %w", db, rows[0][1], err)
	}
	d := kpiStateData{DB: db, To: now - int64(margin/time.Second), Cluster: rows[0][0] == "Distributed"}
	if d.From, err = kpiStateCovered(ctx, exec, db); err != nil {
		return KPIStatePass{}, fmt.Errorf("kpi state of %s: %w", db, err)
	}
	pass := KPIStatePass{From: time.Unix(d.From, 0).UTC(), To: time.Unix(d.To, 0).UTC()}
	if d.To <= d.From {
		return pass, nil
	}
	tmpl, err := kpiStateTemplate()
	if err != nil {
		return pass, err
	}
	var touched string
	if touched, err = renderNamed(tmpl, "touched", d); err == nil {
		rows, err = exec.Query(ctx, "SELECT toString(uniqExact(referral_id)) FROM ("+touched+")")
	}
	if err == nil && len(rows) == 1 {
		pass.Referrals, err = strconv.ParseInt(rows[0][0], 10, 64)
	}
	if err != nil {
		return pass, fmt.Errorf("kpi state of %s: the touched referrals: %w", db, err)
	}
	d.Buckets = (pass.Referrals + kpiStateReferralsPerStatement - 1) / kpiStateReferralsPerStatement
	for d.Bucket = 0; d.Bucket < d.Buckets; d.Bucket++ {
		if name, err := execKPIStateStatements(ctx, exec, tmpl, d, kpiStateStatements()); err != nil {
			return pass, fmt.Errorf("kpi state of %s: %s of %d referrals (part %d of %d): %w", db, name, pass.Referrals, d.Bucket+1, d.Buckets, err)
		}
	}
	mark := fmt.Sprintf("INSERT INTO %s.kpi_state_passes (covered_to, passed_at, state_version) SELECT toDateTime(%d, 'UTC'), now(), %d", db, d.To, KPIStateVersion)
	if d.Cluster {
		mark += " SETTINGS insert_distributed_sync = 1"
	}
	if err := exec.Exec(ctx, mark); err != nil {
		return pass, fmt.Errorf("kpi state of %s: record the pass: %w", db, err)
	}
	return pass, nil
}

// execKPIStateStatements renders the named templates of tmpl
// (sql/kpi_state.sql) with d and runs them in order; on an error it returns
// the name of the one that failed.
func execKPIStateStatements(ctx context.Context, exec clickhouse.Executor, tmpl *template.Template, d kpiStateData, names []string) (string, error) {
	for _, name := range names {
		stmt, err := renderNamed(tmpl, name, d)
		if err == nil {
			err = exec.Exec(ctx, stmt)
		}
		if err != nil {
			return name, err
		}
	}
	return "", nil
}

func renderNamed(t *template.Template, name string, data any) (string, error) {
	var sb strings.Builder
	err := t.ExecuteTemplate(&sb, name, data)
	return sb.String(), err
}
