package schema_test

import (
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/referralops/referralops/schema"
)

func renderContract(t *testing.T, text string) (string, error) {
	t.Helper()
	tm, err := template.New("t").Funcs(schema.Funcs()).Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	err = tm.Execute(&sb, nil)
	return sb.String(), err
}

// TestContractFuncs: the templates get the stored numbers by name, and a name
// that is not in the contract fails the render instead of becoming a number.
func TestContractFuncs(t *testing.T) {
	got, err := renderContract(t, `{{kind "created"}} {{kind "service_line"}} {{rank "booked"}} {{rank "completed"}} {{loopClosedWithinDays}} {{loopClosedWithinSeconds}}`)
	if want := "1 20 1 5 14 1209600"; err != nil || got != want {
		t.Errorf("rendered %q, %v; want %q", got, err, want)
	}
	for _, bad := range []string{`{{kind "creatd"}}`, `{{rank "noshow"}}`} {
		if _, err := renderContract(t, bad); err == nil || !strings.Contains(err.Error(), "no ") {
			t.Errorf("%s rendered without error (%v)", bad, err)
		}
	}
}

// TestStatusRanksOrder: KPIS.md's tie order, completed > no_show > cancelled >
// rescheduled > booked, is the order of the ranks; the slot of an appointment
// is that of its booked or rescheduled events, the ranks up to rescheduled.
func TestStatusRanksOrder(t *testing.T) {
	order := []schema.StatusRank{schema.RankBooked, schema.RankRescheduled, schema.RankCancelled, schema.RankNoShow, schema.RankCompleted}
	for i := 1; i < len(order); i++ {
		if order[i] <= order[i-1] {
			t.Errorf("rank %d is not above rank %d", order[i], order[i-1])
		}
	}
}

// TestLoopClosedWithinWholeDays: the views and panels count the rule in days.
func TestLoopClosedWithinWholeDays(t *testing.T) {
	if schema.LoopClosedWithin <= 0 || schema.LoopClosedWithin%(24*time.Hour) != 0 {
		t.Errorf("LoopClosedWithin = %s, want a positive whole number of days", schema.LoopClosedWithin)
	}
}
