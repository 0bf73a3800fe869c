package schema_test

import (
	"context"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/schema"
)

// Integration tests run on two engines (testenv.OnEngines): the ClickHouse
// 18.16 server of `make services-up` and chDB, the current release as a
// library, which needs Main to close its one session per process.

func TestMain(m *testing.M) { testenv.Main(m) }

// row is one `events` row.
type row = testenv.Row

func facts(t *testing.T, e *testenv.Engine, db string, asOf time.Time) []schema.ReferralFact {
	t.Helper()
	f, err := schema.ReferralFacts(context.Background(), e, db, asOf)
	if err != nil {
		t.Fatalf("%s (%s): %v", e.Name, e.Dialect.Version, err)
	}
	return f
}
