package mllp

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/testenv"
)

// TestClient: Client reads each ACK's code and text (AA stored, AR refused,
// AE Kafka unavailable), and a connection the receiver closed, or no
// receiver, is an error.
func TestClient(t *testing.T) {
	ctx := context.Background()
	kc, topic := kafkaTopic(t)
	cfg := DefaultConfig()
	cfg.Topic = topic
	w, err := broker.NewWriter(kc, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	r := start(t, cfg, w)
	c, err := Dial(ctx, r.srv.Addr().String(), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if code, _, err := c.Send(message("CTL-C1")); code != "AA" || err != nil {
		t.Fatalf("Send = %s, %v; want AA", code, err)
	}
	if n := stored(t, kc, topic); n != 1 {
		t.Errorf("after AA the topic holds %d records", n)
	}
	if code, text, err := c.Send([]byte("not HL7")); code != "AR" || text != "not an HL7 v2 message" || err != nil {
		t.Errorf("Send(not HL7) = %s %q, %v; want AR", code, text, err)
	}

	down := broker.DefaultConfig()
	down.Brokers = []string{testenv.FreeAddr(t)} // nothing listens there
	dw, err := broker.NewWriter(down, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dw.Close() })
	cfg.KafkaTimeout = time.Second
	ae := start(t, cfg, dw)
	c2, err := Dial(ctx, ae.srv.Addr().String(), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if code, text, err := c2.Send(message("CTL-C2")); code != "AE" || !strings.Contains(text, "Kafka") || err != nil {
		t.Errorf("Send with Kafka down = %s %q, %v; want AE", code, text, err)
	}
	ae.cancel()
	<-ae.done
	ae.done <- nil // for start's cleanup
	if _, _, err := c2.Send(message("CTL-C3")); err == nil {
		t.Error("Send on a connection the receiver closed succeeded")
	}
	if _, err := Dial(ctx, testenv.FreeAddr(t), time.Second); err == nil {
		t.Error("Dial with no receiver succeeded")
	}
}
