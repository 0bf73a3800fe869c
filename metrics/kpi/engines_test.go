package kpi_test

import (
	"testing"

	"github.com/referralops/referralops/internal/testenv"
)

// The KPI SQL is proven on two engines (testenv.OnEngines): the ClickHouse
// 18.16 server of `make services-up` and chDB, the current release as a
// library, which needs Main to close its one session per process. Events enter
// through the `events` table, so the materialized views build the facts and
// the KPI index exactly as they do behind the ingester.

func TestMain(m *testing.M) { testenv.Main(m) }
