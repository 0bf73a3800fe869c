package broker_test

import (
	"testing"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/broker"
)

func TestHeaders(t *testing.T) {
	if got := broker.Headers(nil); got != nil {
		t.Errorf("Headers(nil) = %v, want nil", got)
	}
	got := broker.Headers([]event.Header{{Key: "ce_id", Value: []byte("e-1")}, {Key: "ce_type", Value: []byte("referral.created")}})
	if len(got) != 2 || got[0].Key != "ce_id" || string(got[0].Value) != "e-1" || got[1].Key != "ce_type" || string(got[1].Value) != "referral.created" {
		t.Errorf("Headers = %+v", got)
	}
}
