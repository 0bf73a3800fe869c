package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
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

// Store is where valid events go.
type Store interface {
	// Insert stores a batch; it is retried on error, so it must be safe to repeat.
	Insert(ctx context.Context, r *rows) error
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
}

// minRowsPerInsert keeps parallel inserts from cutting batches into blocks so
// small that ClickHouse spends its time creating and merging parts.
const minRowsPerInsert = 10000

// NewClickHouseStore inserts into schema.EventsTable(database) over conn, splitting a batch
// into up to parallel concurrent INSERTs: ClickHouse processes one INSERT (its
// sorting and materialized views) on one thread, so concurrent ones use more
// cores. The connection pool must allow that many connections.
func NewClickHouseStore(conn driver.Conn, database string, parallel int) *ClickHouseStore {
	table := schema.EventsTable(database)
	return &ClickHouseStore{conn: conn, database: database, table: table, query: insertQuery(table), parallel: max(parallel, 1)}
}

// Insert stores the batch in blocks of at most maxMonthsPerInsert months,
// one after the other, each in one or more concurrent INSERTs; it fails if
// any fails, and a retry repeats them all (a repeated row is deduplicated, and
// the offsets are committed only after Insert returned nil).
func (s *ClickHouseStore) Insert(ctx context.Context, r *rows) error {
	cols := r.columns()
	blocks := monthBlocks(r.eventTime, maxMonthsPerInsert)
	if blocks == nil {
		return s.insertBlock(ctx, cols, r.len())
	}
	for _, idx := range blocks {
		block := make([]any, len(cols))
		for i, col := range cols {
			block[i] = gatherRows(col, idx)
		}
		if err := s.insertBlock(ctx, block, len(idx)); err != nil {
			return err
		}
	}
	return nil
}

// insertBlock stores the n rows of cols in up to s.parallel concurrent INSERTs.
func (s *ClickHouseStore) insertBlock(ctx context.Context, cols []any, n int) error {
	parts := min(s.parallel, max(n/minRowsPerInsert, 1))
	if parts == 1 {
		return s.insert(ctx, cols, 0, n)
	}
	errs := make(chan error, parts)
	for i := range parts {
		lo, hi := i*n/parts, (i+1)*n/parts
		go func() { errs <- s.insert(ctx, cols, lo, hi) }()
	}
	var first error
	for range parts {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// insert sends rows [lo, hi) of the columns in one INSERT.
func (s *ClickHouseStore) insert(ctx context.Context, cols []any, lo, hi int) error {
	b, err := s.conn.PrepareBatch(clickhouse.Context(ctx, clickhouse.WithSettings(insertSettings)), s.query)
	if err != nil {
		return fmt.Errorf("insert into %s: %w", s.table, err)
	}
	defer b.Close()
	for i, col := range cols {
		if err := b.Column(i).Append(sliceRows(col, lo, hi)); err != nil {
			return fmt.Errorf("insert into %s: column %s: %w", s.table, eventColumns[i], err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("insert into %s: %w", s.table, err)
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

// sliceRows cuts one column slice of rows.columns to [lo, hi).
func sliceRows(col any, lo, hi int) any {
	switch c := col.(type) {
	case []string:
		return c[lo:hi]
	case []time.Time:
		return c[lo:hi]
	case [][]string:
		return c[lo:hi]
	case []int32:
		return c[lo:hi]
	case []int64:
		return c[lo:hi]
	}
	panic(fmt.Sprintf("ingest: column type %T has no slicing case", col))
}
