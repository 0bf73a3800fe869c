package kpi_test

import (
	"cmp"
	"slices"
)

// The reference of KPIS.md "Referrer attention", from the text: floats as the
// text writes them (base = c·90/275, drop = 1 − n/base), over the reference
// facts. Part of the independent reference (reference_test.go).

// refAttention is one referrer's row of the worklist.
type refAttention struct {
	referrer, org, typ, line string
	n, c                     int64
	base, drop               float64
	daysSinceLast            int64
	leakShare                float64
	openLoops                int64
	level                    string
}

var levelOrder = map[string]int{"critical": 0, "high": 1, "medium": 2, "minor": 3}

// referenceAttention is the worklist as of T in the liaisons' order.
func referenceAttention(facts map[string]*refReferral, T int64) []refAttention {
	type acc struct {
		latest      *refReferral
		n, c        int64
		all, leaked int64
		openLoops   int64
		lines       map[string]int64
	}
	by := map[string]*acc{}
	for _, r := range facts {
		if !r.hasCreated || r.created <= T-lookbackSeconds || r.created > T {
			continue
		}
		a := by[r.referrer]
		if a == nil {
			a = &acc{lines: map[string]int64{}}
			by[r.referrer] = a
		}
		if a.latest == nil || r.created > a.latest.created || r.created == a.latest.created && r.id > a.latest.id {
			a.latest = r
		}
		if r.created > T-recentSeconds {
			a.n++
		} else {
			a.c++
		}
		a.all++
		if r.leaked {
			a.leaked++
		}
		if r.completed && r.firstCompleted <= T-loopSeconds && !r.hasLoopClosed {
			a.openLoops++
		}
		a.lines[r.line]++
	}
	var out []refAttention
	for id, a := range by {
		x := refAttention{referrer: id, org: a.latest.referrerOrg, typ: a.latest.referrerType, n: a.n, c: a.c,
			openLoops: a.openLoops, leakShare: float64(a.leaked) / float64(a.all)}
		for line, k := range a.lines {
			if k > a.lines[x.line] || k == a.lines[x.line] && (x.line == "" || line < x.line) {
				x.line = line
			}
		}
		x.base = float64(a.c) * 90 / 275
		if x.base > 0 {
			x.drop = 1 - float64(a.n)/x.base
		}
		x.daysSinceLast = (T - a.latest.created) / daySeconds
		switch {
		case x.base >= 2 && (x.drop >= 0.75 || x.daysSinceLast >= 60):
			x.level = "critical"
		case x.base >= 1 && (x.drop >= 0.5 || x.leakShare >= 0.5):
			x.level = "high"
		case x.drop >= 0.25 || x.openLoops >= 3:
			x.level = "medium"
		default:
			x.level = "minor"
		}
		out = append(out, x)
	}
	slices.SortFunc(out, func(a, b refAttention) int {
		return cmp.Or(cmp.Compare(levelOrder[a.level], levelOrder[b.level]), cmp.Compare(b.base, a.base), cmp.Compare(a.referrer, b.referrer))
	})
	return out
}

// referenceAttentionJSON is the kpi JSON's "referrer_attention".
func referenceAttentionJSON(rows []refAttention) map[string]any {
	counts := func() map[string]any {
		return map[string]any{"critical": int64(0), "high": int64(0), "medium": int64(0), "minor": int64(0)}
	}
	totals, byType := counts(), map[string]any{}
	for _, r := range rows {
		totals[r.level] = totals[r.level].(int64) + 1
		t, ok := byType[r.typ].(map[string]any)
		if !ok {
			t = counts()
			byType[r.typ] = t
		}
		t[r.level] = t[r.level].(int64) + 1
	}
	totals["by_referrer_type"] = byType
	return totals
}
