package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/testenv"
)

// TestDemo runs `referralops demo --exit` on the real servers, on its own
// topics and database, and checks that it prints the stored events, the dead
// letters and the KPI table.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the servers")
	}
	kc := testenv.Topics(t, testenv.KafkaBrokers(t))
	ch := testenv.ClickHouse(t)
	file := newFileConfig()
	*file.Kafka = kc
	file.ClickHouse.DSN = ch.DSN
	file.Ingest.Group = testenv.UniqueName("demo")
	file.Ingest.Listen = testenv.FreeAddr(t)
	gen := demoGenerator()
	gen.Referrals = 1500
	gen.MaxMessageBytes = file.Event.MaxMessageBytes
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := runDemo(ctx, file.Log.Logger(&out), file, gen, demoOptions{timeout: 4 * time.Minute, exit: true}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"events by type", "referral.created", "dead letters by reason", "too_large",
		"referrals by service line", "KPIs as of", "window 30d", "window 90d", "Unscheduled backlog", "Referrer activity"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}
