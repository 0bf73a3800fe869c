package ingest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/schema"
)

// TestMain closes the chDB session of TestMonthBlocksOnCurrentClickHouse.
func TestMain(m *testing.M) { testenv.Main(m) }

// unix is times as Unix seconds, as rows hold them.
func unix(times []time.Time) []int64 {
	out := make([]int64, len(times))
	for i, t := range times {
		out[i] = t.Unix()
	}
	return out
}

// spanMonths is n event times, one per month back from March 2026, in an
// order that visits the months out of sequence (37 is prime to 120).
func spanMonths(n int) []time.Time {
	end := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	times := make([]time.Time, n)
	for i := range times {
		times[i] = end.AddDate(0, -(i*37)%n, 0)
	}
	return times
}

func TestMonthBlocks(t *testing.T) {
	if got := monthBlocks(unix(spanMonths(50)), 50); got != nil {
		t.Errorf("50 months, limit 50: %d blocks, want none (the batch as it is)", len(got))
	}
	// Two rows per month, the second of each month later in the batch.
	times := append(spanMonths(120), spanMonths(120)...)
	blocks := monthBlocks(unix(times), 50)
	if len(blocks) != 3 {
		t.Fatalf("120 months, limit 50: %d blocks, want 3", len(blocks))
	}
	var all []int
	lastMonth := ""
	for b, idx := range blocks {
		months := map[string]bool{}
		for k, i := range idx {
			m := times[i].Format("2006-01")
			months[m] = true
			if m < lastMonth {
				t.Errorf("block %d: month %s after %s", b, m, lastMonth)
			}
			lastMonth = m
			if k > 0 && times[idx[k-1]].Format("2006-01") == m && idx[k-1] > i {
				t.Errorf("block %d: rows of %s out of batch order", b, m)
			}
		}
		if len(months) > 50 {
			t.Errorf("block %d spans %d months", b, len(months))
		}
		all = append(all, idx...)
	}
	slices.Sort(all)
	if len(all) != len(times) || slices.Compact(all)[len(times)-1] != len(times)-1 {
		t.Errorf("blocks hold %d rows, want each of the %d once", len(all), len(times))
	}
}

// TestMonthBlocksOnCurrentClickHouse proves the split against the limit of
// current ClickHouse (chDB 26.7, default max_partitions_per_insert_block 100)
// on the real `events` table: the 120-month block is refused, and rejected for
// good as classify sees it; the blocks monthBlocks makes are accepted.
func TestMonthBlocksOnCurrentClickHouse(t *testing.T) {
	e := testenv.ChDB(t)
	ctx := context.Background()
	// A retention longer than the backfill: current ClickHouse drops rows
	// already past the `events` TTL as they are inserted.
	d := e.Dialect
	d.RetentionDays = 20 * 366
	db := e.Database(t)
	if _, err := schema.Migrate(ctx, e, d, db); err != nil {
		t.Fatal(err)
	}
	times := spanMonths(120)
	insert := func(idx []int) error {
		var values []string
		for _, i := range idx {
			values = append(values, fmt.Sprintf("('e%d', 'referral.created', '%s', 'r%d')", i, times[i].Format(time.DateTime), i))
		}
		return e.Exec(ctx, "INSERT INTO "+schema.EventsTable(db)+" (event_id, event_type, event_time, referral_id) VALUES "+strings.Join(values, ", "))
	}
	all := make([]int, len(times))
	for i := range all {
		all[i] = i
	}
	err := insert(all)
	if err == nil || !strings.Contains(err.Error(), tooManyPartitions) {
		t.Fatalf("one block of 120 months: err %v, want ClickHouse to refuse too many partitions", err)
	}
	if c := classify(err); c != rejected {
		t.Errorf("classify(too many partitions) = %s, want rejected", c)
	}
	for b, idx := range monthBlocks(unix(times), maxMonthsPerInsert) {
		if err := insert(idx); err != nil {
			t.Fatalf("block %d of %d rows: %v", b, len(idx), err)
		}
	}
	rows, err := e.Query(ctx, "SELECT count(), uniqExact(toYYYYMM(event_time)) FROM "+schema.EventsTable(db))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(rows); got != "[[120 120]]" {
		t.Errorf("stored (rows, months) = %s, want [[120 120]]", got)
	}
}
