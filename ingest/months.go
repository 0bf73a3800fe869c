package ingest

import (
	"maps"
	"slices"
	"time"
)

// maxMonthsPerInsert bounds the months in one INSERT block. `events` is
// partitioned by month (toYYYYMM of a DateTime('UTC')), and current ClickHouse
// refuses, for good, a block that spans more than max_partitions_per_insert_block
// partitions (default 100; 18.16 has no such limit): without a bound a backfill
// of years would never store. Half the default leaves room for a server set
// lower and for a Distributed table's shards, each of which counts its own.
const maxMonthsPerInsert = 50

// monthBlocks groups a batch's rows, by the UTC month of their event times,
// into blocks of at most limit months, months ascending and each month's rows
// in batch order; it returns each block's row indexes. Nil means the batch
// spans no more than limit months and goes as it is, the common case, which
// costs one pass and no copy.
func monthBlocks(times []int64, limit int) [][]int {
	month := monthOf
	seen := map[int]bool{}
	for _, t := range times {
		if seen[month(t)] = true; len(seen) > limit {
			break
		}
	}
	if len(seen) <= limit {
		return nil
	}
	byMonth := map[int][]int{}
	for i, t := range times {
		m := month(t)
		byMonth[m] = append(byMonth[m], i)
	}
	var blocks [][]int
	for ms := slices.Sorted(maps.Keys(byMonth)); len(ms) > 0; ms = ms[min(limit, len(ms)):] {
		var block []int
		for _, m := range ms[:min(limit, len(ms))] {
			block = append(block, byMonth[m]...)
		}
		blocks = append(blocks, block)
	}
	return blocks
}

// monthOf is the UTC month of a Unix time as YYYYMM, the partition of `events`.
func monthOf(unix int64) int {
	t := time.Unix(unix, 0).UTC()
	return t.Year()*100 + int(t.Month())
}
