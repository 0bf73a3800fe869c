package kpi

import (
	"regexp"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/referralops/referralops/schema"
)

// inSubquery is what the queries must not use (see sql/common.sql's "ids").
var inSubquery = regexp.MustCompile(`(?i)\bIN\s*\(\s*SELECT\b`)

// TestQueriesRender: every query renders for a request with every breakdown,
// with nothing left unset, and lists its windows and group keys.
func TestQueriesRender(t *testing.T) {
	r := Request{
		DB: "referralops", AsOf: time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC),
		Windows:    []Window{Window(90 * day), Window(7 * day)},
		Breakdowns: []Breakdown{{Location}, {ServiceLine, Priority}, {ReferrerType}, {ReferrerNetwork}, {PayerClass}},
	}
	d, err := r.queryData()
	if err != nil {
		t.Fatal(err)
	}
	if d.CohortFrom != d.TUnix-90*86400 || d.Windows[0] != 7*86400 || d.LoopTo != d.TUnix-14*86400 {
		t.Errorf("query data %+v", d)
	}
	for name, tm := range map[string]*template.Template{
		"cohort": cohortSQL, "loop": loopSQL, "no_show": noShowSQL, "auth": authSQL, "backlog": backlogSQL, "referrers": referrersSQL,
		"bounds": boundsSQL,
	} {
		sql, err := render(tm, d)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, want := range []string{"toDateTime(1774958400, 'UTC')", "concat('service_line=', sl, '|', 'priority=', prio)"} {
			if name != "referrers" && name != "bounds" && !strings.Contains(sql, want) {
				t.Errorf("%s lacks %q", name, want)
			}
		}
		// sparse lookups join with the ids of kpi_index, dense ones do not
		if joined, sparse := strings.Contains(sql, "AS lookup USING referral_id"), name != "cohort" && name != "referrers" && name != "bounds"; joined != sparse {
			t.Errorf("%s: joined with its ids: %v, want %v", name, joined, sparse)
		}
		if strings.Contains(sql, "<no value>") || inSubquery.MatchString(sql) {
			t.Errorf("%s has an unset value or an IN subquery:\n%s", name, sql)
		}
	}
	for _, firstOnly := range []bool{true, false} {
		sql, err := render(keyRowsSQL, listData{DB: "referralops", Kind: schema.KindReferrerCreated, Values: "'a', 'b'", Bound: 1, FirstOnly: firstOnly})
		if err != nil || strings.Contains(sql, "LIMIT 1 BY") != firstOnly {
			t.Errorf("key_rows (first only %v): %v\n%s", firstOnly, err, sql)
		}
	}
}

func TestRequestValidation(t *testing.T) {
	asOf := time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		r    Request
		want string
	}{
		{Request{DB: "bad-name", AsOf: asOf}, "database"},
		{Request{DB: "db"}, "as-of"},
		{Request{DB: "db", AsOf: asOf, Windows: []Window{0}}, "positive"},
		{Request{DB: "db", AsOf: asOf, Breakdowns: []Breakdown{{"ward"}}}, "unknown dimension"},
		{Request{DB: "db", AsOf: asOf, Breakdowns: []Breakdown{{Location, Location}}}, "twice"},
		{Request{DB: "db", AsOf: asOf, Buckets: []time.Duration{2 * day, day}}, "ascend"},
	} {
		if _, err := tc.r.queryData(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error about %q", tc.r, err, tc.want)
		}
	}
}

func TestGroupKeys(t *testing.T) {
	labels := []Label{{ServiceLine, "cardiology"}, {Location, "site-01"}}
	key := groupKey(labels)
	if key != "service_line=cardiology|location=site-01" {
		t.Errorf("key %q", key)
	}
	back, err := parseGroupKey(key)
	if err != nil || len(back) != 2 || back[1] != labels[1] {
		t.Errorf("parse %q = %v, %v", key, back, err)
	}
	if _, err := parseGroupKey("ward=3"); err == nil {
		t.Error("unknown dimension accepted")
	}
	if g := (Group{Labels: labels}); g.Value(Location) != "site-01" || g.Value(Priority) != "" || g.Key() != key {
		t.Errorf("group %+v", g)
	}
}
