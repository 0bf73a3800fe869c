package schema

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"text/template"
	"time"

	"github.com/referralops/referralops/internal/clickhouse"
)

// ReferralFact is one referral's facts of KPIS.md as of a time T. Zero times
// mean "none as of T". Dimensions are empty until the referral's
// referral.created (at or before T) is known.
type ReferralFact struct {
	ReferralID string
	// CreatedAt is the earliest referral.created; zero if none at or before T
	// (such a referral is in no KPI yet).
	CreatedAt       time.Time
	ServiceLine     string
	LocationID      string
	ReferrerID      string
	ReferrerOrgID   string
	ReferrerType    string
	ReferrerNetwork string
	PayerClass      string
	Priority        string
	Channel         string
	// DestinationNetwork is the final destination network as of T: that of the
	// latest referral.created or referral.redirected (a redirect wins a tie).
	DestinationNetwork string
	// Leaked: DestinationNetwork is "out", or a referral.leaked at or before T.
	Leaked        bool
	FirstBookedAt time.Time
	// AccessAt is the earliest slot of an appointment not cancelled as of T; it
	// may lie after T.
	AccessAt         time.Time
	FirstCompletedAt time.Time
	// LoopClosedAt is the earliest consult note at or after FirstCompletedAt.
	LoopClosedAt time.Time
	// Closed: a referral.cancelled or referral.rejected at or before T.
	Closed          bool
	InfoRequestedAt time.Time
}

// The facts query's template, parsed on first use: migrations embed it too
// (asOfSQL), so a package-level initializer would be an initialization cycle.
var (
	referralFactsOnce sync.Once
	referralFactsTmpl *template.Template
	referralFactsErr  error
)

func referralFactsTemplate() (*template.Template, error) {
	referralFactsOnce.Do(func() {
		referralFactsTmpl, referralFactsErr = parseTemplate(sqlFiles, "sql/referral_facts_asof.sql")
	})
	return referralFactsTmpl, referralFactsErr
}

// ReferralFactsSQL renders the as-of query for database db.
func ReferralFactsSQL(db string, asOf time.Time) (string, error) {
	if err := clickhouse.ValidateIdentifier(db); err != nil {
		return "", err
	}
	return asOfSQL(db, fmt.Sprintf("toDateTime(%d, 'UTC')", asOf.Unix()))
}

// ReferralFacts returns the facts as of asOf (second precision) of every
// referral with an event at or before it, sorted by referral id. The ingest
// end-to-end tests compare these across runs and engines.
func ReferralFacts(ctx context.Context, q clickhouse.Querier, db string, asOf time.Time) ([]ReferralFact, error) {
	query, err := ReferralFactsSQL(db, asOf)
	if err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("referral facts from %s: %w", db, err)
	}
	facts := make([]ReferralFact, 0, len(rows))
	for _, r := range rows {
		f, err := scanFact(r)
		if err != nil {
			return nil, fmt.Errorf("referral facts from %s: %w", db, err)
		}
		facts = append(facts, f)
	}
	return facts, nil
}

func scanFact(r []string) (ReferralFact, error) {
	const columns = 19
	if len(r) != columns {
		return ReferralFact{}, fmt.Errorf("row has %d columns, want %d", len(r), columns)
	}
	var errs []error
	unix := func(s string) time.Time {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			errs = append(errs, err)
		}
		if n == 0 {
			return time.Time{}
		}
		return time.Unix(n, 0).UTC()
	}
	flag := func(s string) bool {
		if s != "0" && s != "1" {
			errs = append(errs, fmt.Errorf("flag %q", s))
		}
		return s == "1"
	}
	f := ReferralFact{
		ReferralID: r[0], CreatedAt: unix(r[1]),
		ServiceLine: r[2], LocationID: r[3], ReferrerID: r[4], ReferrerOrgID: r[5],
		ReferrerType: r[6], ReferrerNetwork: r[7], PayerClass: r[8], Priority: r[9], Channel: r[10],
		DestinationNetwork: r[11], Leaked: flag(r[12]),
		FirstBookedAt: unix(r[13]), AccessAt: unix(r[14]), FirstCompletedAt: unix(r[15]),
		LoopClosedAt: unix(r[16]), Closed: flag(r[17]), InfoRequestedAt: unix(r[18]),
	}
	if len(errs) > 0 {
		return ReferralFact{}, fmt.Errorf("referral %s: %v", r[0], errs[0])
	}
	return f, nil
}
