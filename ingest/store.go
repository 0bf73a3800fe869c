package ingest

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Store is where valid events go.
type Store interface {
	// Insert stores a batch; it is retried on error, so it must be safe to repeat.
	Insert(ctx context.Context, r *rows) error
	Ping(ctx context.Context) error
}

// ClickHouseStore inserts into the `events` table of one database.
type ClickHouseStore struct {
	conn  driver.Conn
	table string
	query string
}

// NewClickHouseStore inserts into database.events over conn.
func NewClickHouseStore(conn driver.Conn, database string) *ClickHouseStore {
	table := database + ".events"
	return &ClickHouseStore{conn: conn, table: table, query: insertQuery(table)}
}

// Insert sends the batch column by column in one INSERT.
func (s *ClickHouseStore) Insert(ctx context.Context, r *rows) error {
	b, err := s.conn.PrepareBatch(ctx, s.query)
	if err != nil {
		return fmt.Errorf("insert into %s: %w", s.table, err)
	}
	defer b.Close()
	for i, col := range r.columns() {
		if err := b.Column(i).Append(col); err != nil {
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
