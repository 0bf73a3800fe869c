package embedkafka_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/embedkafka"
)

// TestBroker: the topics exist with their partitions, and our producer and a
// consumer group (the ingester's client and way of reading) work against it.
func TestBroker(t *testing.T) {
	kc := broker.DefaultConfig()
	topics := append(kc.Topics.Inputs(), kc.Topics.DeadLetters)
	b, err := embedkafka.Start("127.0.0.1:0", 6, topics...)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	kc.Brokers = []string{b.Addr()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	client := &kafka.Client{Addr: kafka.TCP(b.Addr()), Timeout: 10 * time.Second}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range meta.Topics {
		if tp.Error != nil || len(tp.Partitions) != 6 {
			t.Errorf("topic %s: %d partitions, error %v; want 6", tp.Name, len(tp.Partitions), tp.Error)
		}
	}
	if len(meta.Brokers) != 1 || net.JoinHostPort(meta.Brokers[0].Host, strconv.Itoa(meta.Brokers[0].Port)) != b.Addr() {
		t.Errorf("metadata advertises %+v, want %s", meta.Brokers, b.Addr())
	}

	p, err := broker.NewProducer(kc, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"R-1", "R-2", "R-3"} {
		if err := p.Send(ctx, kc.Topics.Referrals, []byte(key), []byte("{}"), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: kc.Brokers, GroupID: "g", Topic: kc.Topics.Referrals, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	got := map[string]bool{}
	for len(got) < 3 {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got[string(m.Key)] = true
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	lag, err := broker.GroupLag(ctx, kc, "g", kc.Topics.Referrals)
	if err != nil || broker.TotalLag(lag) != 0 {
		t.Errorf("group lag %v (%v) after committing everything, want 0", lag, err)
	}
}

// TestAddrInUse: a taken address is reported as ErrAddrInUse, so the demo
// can say what to do.
func TestAddrInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b, err := embedkafka.Start(ln.Addr().String(), 1, "t")
	if !errors.Is(err, embedkafka.ErrAddrInUse) {
		if b != nil {
			b.Close()
		}
		t.Fatalf("Start on a taken address: %v, want ErrAddrInUse", err)
	}
}
