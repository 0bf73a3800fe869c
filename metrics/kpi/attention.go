package kpi

// Referrer attention (KPIS.md "Referrer attention"): the levels per referrer
// type for the snapshot, and the liaison worklist itself. The rule is
// schema.ReferrerAttentionSQL, the one the view v_referrer_attention runs as
// of now; here it runs as of T over the referrals of the 365-day lookup.

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/schema"
)

// AttentionLevels counts referrers by attention level.
type AttentionLevels struct {
	Critical, High, Medium, Minor int64
}

// Levels are the attention levels in the liaisons' order, most urgent first.
var Levels = []string{"critical", "high", "medium", "minor"}

// Counts is the levels in Levels order.
func (l AttentionLevels) Counts() []int64 { return []int64{l.Critical, l.High, l.Medium, l.Minor} }

func (l *AttentionLevels) add(level string, n int64) error {
	switch level {
	case "critical":
		l.Critical += n
	case "high":
		l.High += n
	case "medium":
		l.Medium += n
	case "minor":
		l.Minor += n
	default:
		return fmt.Errorf("unknown attention level %q", level)
	}
	return nil
}

// ReferrerAttention counts the referrers with a referral in (T−365d, T] by
// level, in all and by referrer_type (that of the referrer's latest referral
// there).
type ReferrerAttention struct {
	Totals AttentionLevels
	ByType map[string]AttentionLevels
}

// AttentionRow is one referrer of the worklist as of T: KPIS.md's numbers and
// its level. Drop is 0 when Base is 0.
type AttentionRow struct {
	ReferrerID, ReferrerOrgID, ReferrerType string
	// ServiceLine is the one with most of its referrals in (T−365d, T].
	ServiceLine   string
	N             int64
	Base, Drop    float64
	DaysSinceLast int64
	LeakShare     float64
	OpenLoops     int64
	Level         string
}

// attentionColumns is the width of schema.ReferrerAttentionSQL's rows.
const attentionColumns = 11

// attentionQuery renders the attention query of the evaluation's T.
func (e *evaluation) attentionQuery() (string, error) {
	source, err := render(attentionSQL, e.data)
	if err != nil {
		return "", err
	}
	return schema.ReferrerAttentionSQL(source, strconv.FormatInt(e.data.TUnix, 10))
}

// attention counts the levels by referrer type (the ids stay in ClickHouse).
func (e *evaluation) attention() error {
	q, err := e.attentionQuery()
	if err != nil {
		return err
	}
	rows, err := e.rawQuery("referrer attention", "SELECT referrer_type, level, count() FROM (\n"+q+"\n) GROUP BY referrer_type, level", 3)
	if err != nil {
		return err
	}
	a := ReferrerAttention{ByType: map[string]AttentionLevels{}}
	var p ints
	for _, r := range rows {
		n := p.int(r[2])
		l := a.ByType[r[0]]
		if err := l.add(r[1], n); err != nil {
			return err
		}
		a.ByType[r[0]] = l
		if err := a.Totals.add(r[1], n); err != nil {
			return err
		}
	}
	if p.err != nil {
		return p.err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.attn = a
	return nil
}

// Worklist is the liaison worklist as of r.AsOf: the first limit referrers
// (all when limit <= 0) in KPIS.md's order, critical first, then by base
// descending (then by referrer id). Only r.DB and r.AsOf matter.
func (r Request) Worklist(ctx context.Context, q clickhouse.Querier, limit int) ([]AttentionRow, error) {
	data, err := Request{DB: r.DB, AsOf: r.AsOf}.queryData()
	if err != nil {
		return nil, err
	}
	ev := &evaluation{ctx: ctx, q: q, data: data}
	fail := func(err error) error {
		return fmt.Errorf("kpi worklist as of %s in %s: %w", time.Unix(data.TUnix, 0).UTC().Format(time.RFC3339), data.DB, err)
	}
	if err := ev.bounds(); err != nil {
		return nil, fail(err)
	}
	sql, err := ev.attentionQuery()
	if err != nil {
		return nil, fail(err)
	}
	if limit > 0 {
		sql += "\nLIMIT " + strconv.Itoa(limit)
	}
	rows, err := ev.rawQuery("referrer worklist", sql, attentionColumns)
	if err != nil {
		return nil, fail(err)
	}
	out := make([]AttentionRow, len(rows))
	var p ints
	var ferr error
	float := func(s string) float64 {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil && ferr == nil {
			ferr = fmt.Errorf("not a number: %q", s)
		}
		return f
	}
	for i, c := range rows {
		out[i] = AttentionRow{
			ReferrerID: c[0], ReferrerOrgID: c[1], ReferrerType: c[2], ServiceLine: c[3],
			N: p.int(c[4]), Base: float(c[5]), Drop: float(c[6]), DaysSinceLast: p.int(c[7]),
			LeakShare: float(c[8]), OpenLoops: p.int(c[9]), Level: c[10],
		}
	}
	if p.err != nil {
		return nil, fail(p.err)
	}
	if ferr != nil {
		return nil, fail(ferr)
	}
	return out, nil
}
