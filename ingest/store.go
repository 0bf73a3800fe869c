package ingest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	chclient "github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/schema"
)

// insertSettings apply to every INSERT. On a cluster `events` is a Distributed
// table, which by default only queues the rows on the receiving server and
// sends them to their shards later: offsets committed after such an INSERT
// could lose the rows with that server. Synchronous distribution returns only
// when every shard's part is written on a replica of that shard. On a single
// server the setting has nothing to do.
var insertSettings = clickhouse.Settings{"insert_distributed_sync": 1}

// refreshQuerySize is the max_query_size of the patient-order recompute:
// a super-batch's referrals (50,000 in 250,000 events, about 0.6 MB of ids)
// in one statement instead of three, each of which reads every patient's row
// (1 M events: 6 statements instead of 15, 1.17 instead of 1.44 CPU s).
const refreshQuerySize = 8 << 20

var refreshSettings = func() clickhouse.Settings {
	s := maps.Clone(insertSettings)
	s["max_query_size"] = refreshQuerySize
	return s
}()

// parallelViews is the setting of --parallel-views: the server runs an
// INSERT's materialized views on threads of their own instead of one after
// the other (18.16 has it, off by default).
const parallelViews = "parallel_view_processing"

// Store is where valid events go.
type Store interface {
	// Insert stores a batch; it is retried on error, so it must be safe to repeat.
	Insert(ctx context.Context, r *rows) error
	// Stream opens one INSERT that several batches are appended to (a
	// super-batch, --insert-rows). It is not retried: the rows appended
	// are gone once sent, so a failure restarts from the committed offsets.
	Stream(ctx context.Context) (InsertStream, error)
	// Refresh is what must follow a stored batch before its offsets are
	// committed, given its referral.created events' referrals with a patient
	// token (rows.patientReferrals). It may run while the next batch is
	// inserted, and is retried on error.
	Refresh(ctx context.Context, referrals []string) error
	Ping(ctx context.Context) error
	// Schema lists the migrations the binary has that the database lacks.
	Schema(ctx context.Context) (missing []string, err error)
	// Locate says where an Insert error came from, and what a permanent one needs.
	Locate(ctx context.Context, err error) InsertFailure
}

// ClickHouseStore inserts into the `events` table of one database, which is in
// its PHI database (schema.EventsTable).
type ClickHouseStore struct {
	conn     driver.Conn
	database string
	table    string
	query    string
	parallel int
	settings clickhouse.Settings
	recheck  *recheckQueue // nil: no recheck (RecheckPatientOrder)
}

// RecheckPatientOrder has the store recompute each stored batch's patient
// order once more after the delay (--patient-order-recheck; see recheck.go),
// run by the ingester's RecheckDue calls. 0 turns it off.
func (s *ClickHouseStore) RecheckPatientOrder(after time.Duration) *ClickHouseStore {
	s.recheck = nil
	if after > 0 {
		s.recheck = newRecheckQueue(after, maxRecheckReferrals)
	}
	return s
}

// RecheckDue implements patientOrderRechecker.
func (s *ClickHouseStore) RecheckDue(ctx context.Context, now time.Time) (int, int, error) {
	if s.recheck == nil {
		return 0, 0, nil
	}
	due, dropped := s.recheck.take(now)
	if err := s.recompute(ctx, due); err != nil {
		s.recheck.add(now, due)
		return len(due), dropped, err
	}
	return len(due), dropped, nil
}

// RecheckDelay implements patientOrderRechecker.
func (s *ClickHouseStore) RecheckDelay() time.Duration {
	if s.recheck == nil {
		return 0
	}
	return s.recheck.after
}

// RecheckPending implements patientOrderRechecker.
func (s *ClickHouseStore) RecheckPending() int {
	if s.recheck == nil {
		return 0
	}
	return s.recheck.pending()
}

// minRowsPerInsert keeps parallel inserts from cutting batches into blocks so
// small that ClickHouse spends its time creating and merging parts.
const minRowsPerInsert = 10000

// NewClickHouseStore inserts into schema.EventsTable(database) over conn, splitting a batch
// into up to parallel concurrent INSERTs: ClickHouse processes one INSERT (its
// sorting and materialized views) on one thread, so concurrent ones use more
// cores. The connection pool must allow that many connections. views runs each
// INSERT's materialized views in parallel (--parallel-views).
func NewClickHouseStore(conn driver.Conn, database string, parallel int, views bool) *ClickHouseStore {
	table := schema.EventsTable(database)
	settings := maps.Clone(insertSettings)
	if views {
		settings[parallelViews] = 1
	}
	return &ClickHouseStore{conn: conn, database: database, table: table, query: insertQuery(table), parallel: max(parallel, 1), settings: settings}
}

// Insert stores the batch in groups of at most maxMonthsPerInsert months,
// one after the other, each in one or more concurrent INSERTs; it fails if any
// statement fails, and a retry repeats them all (a repeated row is
// deduplicated, and the offsets are committed only after Insert and Refresh
// returned nil). ingested_at is the time of the attempt.
func (s *ClickHouseStore) Insert(ctx context.Context, r *rows) error {
	now := time.Now().Unix()
	groups := monthBlocks(r.eventTime, maxMonthsPerInsert)
	if groups == nil {
		return s.insertGroup(ctx, r, nil, r.len(), now)
	}
	for _, idx := range groups {
		if err := s.insertGroup(ctx, r, idx, len(idx), now); err != nil {
			return err
		}
	}
	return nil
}

// Refresh recomputes referral_patient_order (migration 0010) for the
// patients of a stored batch's referral.created events: a view cannot, since
// a patient's previous referral may be in any earlier batch. It names the
// referrals, never a token (system.query_log keeps statements, and readers
// may read it). Through the Distributed table on a cluster, synchronously
// like the events. It is idempotent, and a recompute from more data wins, so
// it may overlap the next batch's INSERT.
func (s *ClickHouseStore) Refresh(ctx context.Context, referrals []string) error {
	if err := s.recompute(ctx, referrals); err != nil {
		return err
	}
	if s.recheck != nil {
		s.recheck.add(time.Now(), referrals)
	}
	return nil
}

func (s *ClickHouseStore) recompute(ctx context.Context, referrals []string) error {
	err := schema.RefreshPatientOrder(clickhouse.Context(ctx, clickhouse.WithSettings(refreshSettings)),
		chclient.Native{Conn: s.conn}, s.database, referrals, refreshQuerySize)
	if err != nil {
		return fmt.Errorf("%w: %w", errPatientOrder, err)
	}
	return nil
}

// errPatientOrder marks a failed patient-order recompute, classified like an
// INSERT's failure, for Locate to name its grants.
var errPatientOrder = errors.New("patient order")

// insertGroup stores n rows of r, those at idx or the first n when idx is
// nil, in up to s.parallel concurrent INSERTs.
func (s *ClickHouseStore) insertGroup(ctx context.Context, r *rows, idx []int, n int, now int64) error {
	parts := min(s.parallel, max(n/minRowsPerInsert, 1))
	if parts == 1 {
		return s.insert(ctx, r, idx, 0, n, now)
	}
	errs := make(chan error, parts)
	for i := range parts {
		lo, hi := i*n/parts, (i+1)*n/parts
		go func() { errs <- s.insert(ctx, r, idx, lo, hi, now) }()
	}
	var first error
	for range parts {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// InsertStream is an open INSERT (Store.Stream).
type InsertStream interface {
	// Append sends the rows; r may be reused once it returns.
	Append(r *rows) error
	// Close ends the INSERT: nil once the server has stored every row.
	Close() error
	// Abort drops the INSERT after a failure; the server discards what it
	// had not stored.
	Abort()
}

// Stream implements Store. ingested_at is the time the INSERT opened.
func (s *ClickHouseStore) Stream(ctx context.Context) (InsertStream, error) {
	return s.open(ctx, time.Now().Unix())
}

// open starts an INSERT whose rows get ingested_at now.
func (s *ClickHouseStore) open(ctx context.Context, now int64) (*chStream, error) {
	b, err := s.conn.PrepareBatch(clickhouse.Context(ctx, clickhouse.WithSettings(s.settings)), s.query)
	if err != nil {
		return nil, fmt.Errorf("insert into %s: %w", s.table, err)
	}
	return &chStream{table: s.table, batch: b, now: now}, nil
}

type chStream struct {
	table string
	batch driver.Batch
	now   int64
}

func (c *chStream) Append(r *rows) error { return c.send(r, nil, 0, r.len()) }

// send sends rows [lo, hi) of r (those at idx[lo:hi] when idx is set) in
// blocks of insertBlockRows; r may be reused once it returns.
func (c *chStream) send(r *rows, idx []int, lo, hi int) error {
	v := getViews()
	defer putViews(v)
	cols := c.batch.Columns() // the block's, which Flush empties for the next
	for at := lo; at < hi; at += insertBlockRows {
		v.fill(r, idx, at, min(at+insertBlockRows, hi), c.now)
		if err := appendColumns(v, cols); err != nil {
			return fmt.Errorf("insert into %s: %w", c.table, err)
		}
		if err := c.batch.Flush(); err != nil {
			return fmt.Errorf("insert into %s: %w", c.table, err)
		}
	}
	return nil
}

func (c *chStream) Close() error {
	if err := c.batch.Send(); err != nil {
		return fmt.Errorf("insert into %s: %w", c.table, err)
	}
	return nil
}

func (c *chStream) Abort() { _ = c.batch.Abort() }

// insertBlockRows is the size of the blocks an INSERT is sent in. The server
// squashes them back into blocks of up to min_insert_block_size_rows before
// writing parts and running the views, so the size only bounds clickhouse-go's
// copy of the rows, which it reuses from one block to the next, and which
// each open INSERT holds (with maxEndings, three at a time): 4,096 rows cost
// no more CPU than 8,192, and 10-15 MB less peak RSS.
const insertBlockRows = 4096

// views are blockViews to reuse across INSERTs: a free list, not a
// sync.Pool, which the garbage collector empties every other cycle (several
// a second while a backlog drains), and each new one grew its slices again
// (36 B per event allocated, make bench).
var views = make(chan *blockViews, maxFreeViews)

// maxFreeViews bounds the blockViews kept: one per concurrent INSERT
// (--insert-parallelism) is enough; more are dropped.
const maxFreeViews = 8

func getViews() *blockViews {
	select {
	case v := <-views:
		return v
	default:
		return new(blockViews)
	}
}

// putViews empties v and keeps it for the next INSERT.
func putViews(v *blockViews) {
	v.reset()
	select {
	case views <- v:
	default:
	}
}

// insert sends rows [lo, hi) of the group in one INSERT, in blocks of
// insertBlockRows.
func (s *ClickHouseStore) insert(ctx context.Context, r *rows, idx []int, lo, hi int, now int64) error {
	st, err := s.open(ctx, now)
	if err != nil {
		return err
	}
	if err := st.send(r, idx, lo, hi); err != nil {
		st.Abort() // the connection is closed: the server drops what it had of the INSERT
		return err
	}
	return st.Close()
}

// appendColumns appends each column of v to the column of cols at its index
// in eventColumns. A column given as []any is appended row by row: for an
// Array, clickhouse-go appends a whole column by reflection, allocating per
// row, but a row of a plain type without.
func appendColumns(v *blockViews, cols []column.Interface) error {
	for i, col := range v.columns() {
		var err error
		if byRow, ok := col.([]any); ok {
			for _, row := range byRow {
				if err = cols[i].AppendRow(row); err != nil {
					break
				}
			}
		} else {
			_, err = cols[i].Append(col)
		}
		if err != nil {
			return fmt.Errorf("column %s: %w", eventColumns[i], err)
		}
	}
	return nil
}

// Ping checks that ClickHouse answers.
func (s *ClickHouseStore) Ping(ctx context.Context) error {
	if err := s.conn.Ping(ctx); err != nil {
		return fmt.Errorf("ping ClickHouse: %w", err)
	}
	return nil
}

// Schema lists the migrations not recorded in the database's schema_migrations.
func (s *ClickHouseStore) Schema(ctx context.Context) ([]string, error) {
	ms, err := schema.Missing(ctx, chclient.Native{Conn: s.conn}, s.database)
	if err != nil {
		return nil, fmt.Errorf("check %s.schema_migrations: %w", s.database, err)
	}
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.String()
	}
	return names, nil
}
