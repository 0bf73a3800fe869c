package demo

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/testenv"
)

// TestFeedsFailures: while Kafka is unavailable the demo's interface engine
// keeps a message pending (AE is resent, not a failure) until its context
// ends; AR fails the feed for good; either way it stops cleanly.
func TestFeedsFailures(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	queue := func(f *feeds, msg []byte) {
		f.pending.Add(1)
		f.queues[0] <- msg
	}

	t.Run("AR", func(t *testing.T) {
		kc := testenv.Topics(t, testenv.KafkaBrokers(t))
		p, err := broker.NewProducer(kc, 10)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close(context.Background())
		f, err := startFeeds(context.Background(), kc, p, make([]byte, 32), logger)
		if err != nil {
			t.Fatal(err)
		}
		queue(f, []byte("not an HL7 v2 message"))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := f.flush(ctx); err == nil || !strings.Contains(err.Error(), "answered AR") {
			t.Errorf("flush after AR: %v", err)
		}
		if err := f.close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})

	t.Run("AE", func(t *testing.T) {
		kc := broker.DefaultConfig()
		kc.Brokers = []string{testenv.FreeAddr(t)} // nothing listens there
		p, err := broker.NewProducer(kc, 10)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close(context.Background())
		sendCtx, stop := context.WithCancel(context.Background())
		f, err := startFeeds(sendCtx, kc, p, make([]byte, 32), logger)
		if err != nil {
			t.Fatal(err)
		}
		queue(f, []byte("MSH|^~\\&|A|B|C|D|20260301120000||SIU^S12|CTL-AE|P|2.5.1\r"))
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := f.flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("flush while Kafka is down: %v, want the deadline (the engine keeps resending)", err)
		}
		if err := f.failed(); err != nil {
			t.Errorf("AE counted as a failure: %v", err)
		}
		stop()
		if err := f.close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
}
