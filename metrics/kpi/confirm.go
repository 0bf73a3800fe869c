package kpi

// Confirming keys against the referrals' own dimensions. kpi_index has a row
// per referral.created, but a referral's dimensions are those of its earliest
// referral.created, so a key (a referrer, a service line) found in the index is
// confirmed by reading the dimensions of the referrals it was found with: for
// the referrer activity KPI's new referrers (olderReferrals) and for the
// service lines with no row in any KPI result (serviceLines).

import (
	"maps"
	"slices"
	"strings"

	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/schema"
)

// serviceLines completes e.lines: the lines seen in the results so far have
// referrals created at or before T; any other line ever seen is checked.
func (e *evaluation) serviceLines() error {
	rows, err := e.query(serviceLinesSQL, e.data, 1)
	if err != nil {
		return err
	}
	var unseen []string
	for _, r := range rows {
		if !e.lines[r[0]] {
			unseen = append(unseen, r[0])
		}
	}
	slices.Sort(unseen)
	confirmed, err := e.confirm(schema.KindServiceLineCreated, unseen, e.data.TUnix, true, func(d referralDims) string { return d.serviceLine })
	if err != nil {
		return err
	}
	for line := range confirmed {
		e.lines[line] = true
	}
	return nil
}

// listBytes bounds the literal list of one query: big enough that thousands of
// candidates take a round trip or two, below max_query_size (256 KiB by
// default) with the rest of the query.
const listBytes = 200 << 10

// batches splits keys into lists of SQL literals of at most listBytes each.
func batches(keys []string) []string {
	var out []string
	var sb strings.Builder
	for _, k := range keys {
		q := clickhouse.Quote(k)
		if sb.Len() > 0 && sb.Len()+len(q)+2 > listBytes {
			out = append(out, sb.String())
			sb.Reset()
		}
		if sb.Len() > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(q)
	}
	if sb.Len() > 0 {
		out = append(out, sb.String())
	}
	return out
}

// referralDims is a referral's referrer and service line, from its earliest
// referral.created.
type referralDims struct{ referrer, serviceLine string }

// dims looks up the dimensions of the listed referrals.
func (e *evaluation) dims(referrals []string) (map[string]referralDims, error) {
	out := map[string]referralDims{}
	for _, values := range batches(slices.Compact(slices.Sorted(slices.Values(referrals)))) {
		rows, err := e.query(referralDimsSQL, listData{DB: e.data.DB, Values: values}, 3)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			out[r[0]] = referralDims{referrer: r[1], serviceLine: r[2]}
		}
	}
	return out, nil
}

// olderReferrals returns the candidate referrers with a referral created at or
// before T−90d: mostly decided by each one's earliest referral.created (a row
// in kpi_referrers and one in kpi_created); referrers whose earliest belongs to
// another referrer's referral are checked against all of their rows.
func (e *evaluation) olderReferrals(candidates []string) (map[string]bool, error) {
	bound := e.data.RecentFrom
	first := map[string]string{} // referrer -> its earliest referral, if at or before bound
	for _, values := range batches(candidates) {
		rows, err := e.query(referrerFirstSQL, listData{DB: e.data.DB, Values: values}, 3)
		if err != nil {
			return nil, err
		}
		var p ints
		for _, r := range rows {
			if p.int(r[1]) <= bound {
				first[r[0]] = r[2]
			}
		}
		if p.err != nil {
			return nil, p.err
		}
	}
	dims, err := e.dims(slices.Collect(maps.Values(first)))
	if err != nil {
		return nil, err
	}
	older := map[string]bool{}
	var unsure []string
	for referrer, referral := range first {
		if dims[referral].referrer == referrer {
			older[referrer] = true
		} else {
			unsure = append(unsure, referrer)
		}
	}
	slices.Sort(unsure)
	confirmed, err := e.confirm(schema.KindReferrerCreated, unsure, bound, false, func(d referralDims) string { return d.referrer })
	for id := range confirmed {
		older[id] = true
	}
	return older, err
}

// confirm returns the keys (of kpi_index kind) that have a referral created at
// or before bound whose own dimension (dim) is the key. kpi_index rows come
// from every referral.created, but a referral's dimensions are those of its
// earliest, so each row's referral is checked. With firstOnly it checks each
// key's earliest row, then all rows of the keys whose earliest row belongs to
// another key's referral (a referral with several referral.created).
func (e *evaluation) confirm(kind schema.IndexKind, keys []string, bound int64, firstOnly bool, dim func(referralDims) string) (map[string]bool, error) {
	confirmed := map[string]bool{}
	// check confirms what it can and returns the keys it saw rows of but could
	// not confirm.
	check := func(keys []string, firstOnly bool) ([]string, error) {
		var unconfirmed []string
		for _, values := range batches(keys) {
			rows, err := e.query(keyRowsSQL, listData{DB: e.data.DB, Values: values, Kind: kind, Bound: bound, FirstOnly: firstOnly}, 2)
			if err != nil {
				return nil, err
			}
			referrals := make([]string, len(rows))
			for i, r := range rows {
				referrals[i] = r[1]
			}
			dims, err := e.dims(referrals)
			if err != nil {
				return nil, err
			}
			for _, r := range rows {
				if dim(dims[r[1]]) == r[0] {
					confirmed[r[0]] = true
				}
			}
			for _, r := range rows {
				if !confirmed[r[0]] {
					unconfirmed = append(unconfirmed, r[0])
				}
			}
		}
		return slices.Compact(unconfirmed), nil
	}
	if firstOnly {
		var err error
		if keys, err = check(keys, true); err != nil {
			return nil, err
		}
	}
	_, err := check(keys, false)
	return confirmed, err
}
