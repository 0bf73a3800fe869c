package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/schema"
)

// gatedStore holds the first Refresh until a later batch's Insert has begun,
// recording what the group had committed at that moment.
type gatedStore struct {
	*ClickHouseStore
	mu              sync.Mutex
	inserts         int
	secondInsert    chan struct{} // closed when the second Insert begins
	refreshes       int
	committedAtGate int64 // the group's committed records when the second Insert began
	committed       func() int64
}

func (s *gatedStore) Insert(ctx context.Context, r *rows) error {
	s.mu.Lock()
	s.inserts++
	if s.inserts == 2 {
		s.committedAtGate = s.committed()
		close(s.secondInsert)
	}
	s.mu.Unlock()
	return s.ClickHouseStore.Insert(ctx, r)
}

func (s *gatedStore) Refresh(ctx context.Context, referrals []string) error {
	s.mu.Lock()
	s.refreshes++
	first := s.refreshes == 1
	s.mu.Unlock()
	if first {
		select {
		case <-s.secondInsert:
		case <-time.After(time.Minute):
			return errors.New("test: the next batch's insert did not begin while the first refresh waited")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.ClickHouseStore.Refresh(ctx, referrals)
}

// TestRefreshOverlapsNextInsert: a stored batch's patient-order refresh runs
// while the next batch is inserted, and its offsets are committed only once
// the refresh is done; in the end every record is stored, every referral has
// its patient order, and every offset is committed.
func TestRefreshOverlapsNextInsert(t *testing.T) {
	const referrals = 40
	kc, ch, cfg := pipelineTest(t, referrals)
	ctx := context.Background()
	cfg.InsertRows = 0 // an INSERT per batch (Store.Insert)
	store := &gatedStore{ClickHouseStore: NewClickHouseStore(ch.Conn, ch.Database, 1, true), secondInsert: make(chan struct{}),
		committed: func() int64 {
			lag, err := broker.GroupLag(ctx, kc, cfg.Group, kc.Topics.Referrals)
			if err != nil {
				return -1
			}
			return referrals - broker.TotalLag(lag)
		}}
	in := testIngester(t, kc, cfg, store)
	defer runInBackground(t, in)()
	testenv.WaitCommitted(t, kc, cfg.Group, 2*time.Minute)

	store.mu.Lock()
	inserts, gateCommitted := store.inserts, store.committedAtGate
	store.mu.Unlock()
	if inserts < 2 {
		t.Fatalf("%d inserts, want several batches of at most %d", inserts, cfg.BatchRows)
	}
	if gateCommitted != 0 {
		t.Errorf("%d records committed while the first batch's refresh had not finished, want 0", gateCommitted)
	}
	checkPipelineStored(t, ch, referrals)
}

// refreshCountingStore counts the INSERTs and the patient-order refreshes.
type refreshCountingStore struct {
	*ClickHouseStore
	inserts, refreshes atomic.Int64
}

func (s *refreshCountingStore) Insert(ctx context.Context, r *rows) error {
	s.inserts.Add(1)
	return s.ClickHouseStore.Insert(ctx, r)
}

func (s *refreshCountingStore) Refresh(ctx context.Context, referrals []string) error {
	s.refreshes.Add(1)
	return s.ClickHouseStore.Refresh(ctx, referrals)
}

// TestRefreshHeldInBacklog: while records wait to be batched (here on a byte
// budget of a few records), stored batches are held and refreshed together,
// with fewer patient-order recomputes than INSERTs; in the end every referral
// has its order and every offset is committed.
func TestRefreshHeldInBacklog(t *testing.T) {
	const referrals = 1000 // about 170 a partition: two runs of the fetchers each
	kc, ch, cfg := pipelineTest(t, referrals)
	cfg.InsertRows = 0             // an INSERT per batch of at most 10 (Store.Insert)
	cfg.MaxBufferedBytes = 8 << 10 // the fetchers wait for the batches
	store := &refreshCountingStore{ClickHouseStore: NewClickHouseStore(ch.Conn, ch.Database, 1, true)}
	in := testIngester(t, kc, cfg, store)
	defer runInBackground(t, in)()
	testenv.WaitCommitted(t, kc, cfg.Group, 2*time.Minute)
	inserts, refreshes := store.inserts.Load(), store.refreshes.Load()
	t.Logf("%d refreshes for %d inserts", refreshes, inserts)
	if inserts < referrals/10 || refreshes*2 > inserts {
		t.Errorf("%d refreshes for %d inserts during a backlog, want at most half as many", refreshes, inserts)
	}
	checkPipelineStored(t, ch, referrals)
}

// TestRefreshEachWhenCaughtUp: records that come a few at a time, nothing
// else on its way, have each stored batch refreshed and committed at once,
// none held.
func TestRefreshEachWhenCaughtUp(t *testing.T) {
	const each, times = 5, 4
	kc, ch, cfg := pipelineTest(t, each)
	cfg.InsertRows = 0
	store := &refreshCountingStore{ClickHouseStore: NewClickHouseStore(ch.Conn, ch.Database, 1, true)}
	in := testIngester(t, kc, cfg, store)
	defer runInBackground(t, in)()
	for i := 1; ; i++ {
		testenv.WaitCommitted(t, kc, cfg.Group, 2*time.Minute)
		if i == times {
			break
		}
		produceCreatedFrom(t, kc, i*each, each)
	}
	if inserts, refreshes := store.inserts.Load(), store.refreshes.Load(); inserts < times || refreshes != inserts {
		t.Errorf("%d refreshes for %d inserts, want one each", refreshes, inserts)
	}
	checkPipelineStored(t, ch, each*times)
}

// runInBackground runs in until the returned stop is called, which then
// checks that Run ended with nothing but the cancellation.
func runInBackground(t *testing.T, in *Ingester) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
	}
}

// produceCreated produces n valid referral.created events with patient tokens
// (7 patients) to the referrals topic.
func produceCreated(t *testing.T, kc broker.Config, n int) {
	t.Helper()
	produceCreatedFrom(t, kc, 0, n)
}

// produceCreatedFrom is produceCreated of the events from, from+1, ...
func produceCreatedFrom(t *testing.T, kc broker.Config, from, n int) {
	t.Helper()
	ctx := context.Background()
	p, err := broker.NewProducer(kc, 100)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	for i := from; i < from+n; i++ {
		ev := event.Event{ID: fmt.Sprintf("e-%d", i), Source: "epic/test", Type: event.ReferralCreated, Time: at.Add(time.Duration(i) * time.Minute),
			Subject: fmt.Sprintf("R-%d", i), Data: event.Data{ServiceLine: "cardiology", LocationID: "loc-1", ReferrerID: "npi-1",
				ReferrerType: "primary_care", ReferrerNetwork: "in", DestinationNetwork: "in", PayerClass: "commercial", Priority: "routine",
				Channel: "fax", PatientToken: fmt.Sprintf("tok-%d", i%7)}}
		msg := event.AppendEncode(nil, ev)
		if _, err := event.NewDecoder(event.DefaultConfig()).Decode(msg, nil); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if err := p.Send(ctx, kc.Topics.Referrals, []byte(ev.Subject), msg, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// testIngester is an ingester of kc's topics into store, with a dead-letter
// writer closed at the test's end and no log.
func testIngester(t *testing.T, kc broker.Config, cfg Config, store Store) *Ingester {
	t.Helper()
	dlq, err := broker.NewWriter(kc, kc.Topics.DeadLetters)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dlq.Close() })
	return New(cfg, kc, event.NewDecoder(event.DefaultConfig()), store, dlq, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
}

// refusingStore refuses the first Refresh and holds the second until release
// is closed.
type refusingStore struct {
	*ClickHouseStore
	mu        sync.Mutex
	stored    int // Inserts returned
	refreshes int
	held      chan struct{} // closed when the second Refresh begins
	release   chan struct{}
}

func (s *refusingStore) Insert(ctx context.Context, r *rows) error {
	err := s.ClickHouseStore.Insert(ctx, r)
	s.mu.Lock()
	if err == nil {
		s.stored++
	}
	s.mu.Unlock()
	return err
}

func (s *refusingStore) Refresh(ctx context.Context, referrals []string) error {
	s.mu.Lock()
	s.refreshes++
	n := s.refreshes
	s.mu.Unlock()
	switch n {
	case 1:
		return fmt.Errorf("%w: test: refused", errPatientOrder)
	case 2:
		close(s.held)
		select {
		case <-s.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.ClickHouseStore.Refresh(ctx, referrals)
}

// TestRefreshRefusedNotReady: while a stored batch's refresh fails, the
// ingester is not ready, even once the next batch's INSERT went through;
// when the refresh succeeds, everything is committed and it is ready again.
func TestRefreshRefusedNotReady(t *testing.T) {
	kc, ch, cfg := pipelineTest(t, 40)
	cfg.InsertRows = 0 // an INSERT per batch (Store.Insert)
	cfg.RetryBackoffMin, cfg.RetryBackoffMax = 10*time.Millisecond, 50*time.Millisecond
	store := &refusingStore{ClickHouseStore: NewClickHouseStore(ch.Conn, ch.Database, 1, true), held: make(chan struct{}), release: make(chan struct{})}
	in := testIngester(t, kc, cfg, store)
	defer runInBackground(t, in)()

	select {
	case <-store.held:
	case <-time.After(2 * time.Minute):
		t.Fatal("the refused refresh was not tried again")
	}
	testenv.Eventually(t, time.Minute, func() bool {
		store.mu.Lock()
		defer store.mu.Unlock()
		return store.stored >= 2 && in.inserts.up() && in.clickhouse.up()
	}, func() string { return "the next batch was not stored while the refresh was held" })
	if err := in.Ready(); err == nil || !strings.Contains(err.Error(), "refuses inserts") {
		t.Errorf("Ready() = %v while a refresh is refused, want ClickHouse refusing inserts", err)
	}
	close(store.release)
	testenv.WaitCommitted(t, kc, cfg.Group, 2*time.Minute)
	testenv.Eventually(t, time.Minute, func() bool { return in.Ready() == nil }, func() string {
		return fmt.Sprintf("Ready() = %v once the refresh succeeded", in.Ready())
	})
}

// pipelineTest starts a test of the batch pipeline: fresh topics holding n
// referral.created events, a fresh database, and a configuration of batches
// of 10 records.
func pipelineTest(t *testing.T, n int) (broker.Config, *testenv.ClickHouseDB, Config) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end")
	}
	kc := testenv.Topics(t, testenv.KafkaBrokers(t))
	ch := testenv.ClickHouse(t)
	produceCreated(t, kc, n)
	cfg := DefaultConfig()
	cfg.Group, cfg.BatchRows, cfg.BatchMaxAge = testenv.UniqueName("g"), 10, 100*time.Millisecond
	return kc, ch, cfg
}

// checkPipelineStored checks that ch holds the n events of produceCreated,
// each referral with its patient order.
func checkPipelineStored(t *testing.T, ch *testenv.ClickHouseDB, n int) {
	t.Helper()
	for _, q := range []string{
		"SELECT uniqExact(event_id) FROM " + schema.EventsTable(ch.Database),
		"SELECT uniqExact(referral_id) FROM " + ch.Database + ".referral_patient_order",
	} {
		got, err := ch.Querier().Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if got[0][0] != fmt.Sprint(n) {
			t.Errorf("%s: %s, want %d", q, got[0][0], n)
		}
	}
}
