package ingest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/testenv"
)

// countingStore counts the super-batch INSERTs and the batches appended to
// them; with failFirst the first INSERT breaks at its end.
type countingStore struct {
	*ClickHouseStore
	failFirst bool
	// holdFirst, when set, makes the first INSERT's Close wait (a minute at
	// most) for the first Append of INSERT number releaseOn; overlapped
	// tells whether it came while the first was ending.
	holdFirst  chan struct{}
	releaseOn  int
	released   bool
	overlapped bool
	mu         sync.Mutex
	streams    int
	appends    int
	first      int // appends to the first INSERT
}

func (s *countingStore) Stream(ctx context.Context) (InsertStream, error) {
	st, err := s.ClickHouseStore.Stream(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streams++
	return &countingStream{InsertStream: st, store: s, n: s.streams}, nil
}

type countingStream struct {
	InsertStream
	store *countingStore
	n     int // which INSERT, from 1
}

func (c *countingStream) Append(r *rows) error {
	c.store.mu.Lock()
	c.store.appends++
	if c.n == 1 {
		c.store.first++
	}
	if c.n == c.store.releaseOn && c.store.holdFirst != nil && !c.store.released {
		c.store.released = true
		close(c.store.holdFirst)
	}
	c.store.mu.Unlock()
	return c.InsertStream.Append(r)
}

func (c *countingStream) Close() error {
	if c.store.holdFirst != nil && c.n == 1 {
		select {
		case <-c.store.holdFirst:
			c.store.mu.Lock()
			c.store.overlapped = true
			c.store.mu.Unlock()
		case <-time.After(time.Minute): // the next INSERT waited for this one
		}
	}
	if c.store.failFirst && c.n == 1 {
		c.InsertStream.Abort()
		return errors.New("test: the connection broke at the end of the INSERT")
	}
	return c.InsertStream.Close()
}

// streamTest runs an ingester over pipelineTest's referrals, storing
// through a countingStore (set up by tweak, if any) in INSERTs of up to
// insertRows rows, until everything is committed, and checks what was
// stored. The store's counts are final when it returns: the ingester has
// stopped.
func streamTest(t *testing.T, insertRows int, tweak func(*countingStore, *Config)) *countingStore {
	const referrals = 40
	kc, ch, cfg := pipelineTest(t, referrals)
	cfg.BatchMaxAge, cfg.InsertRows = 2*time.Second, insertRows
	store := &countingStore{ClickHouseStore: NewClickHouseStore(ch.Conn, ch.Database, 1, true)}
	if tweak != nil {
		tweak(store, &cfg)
	}
	in := testIngester(t, kc, cfg, store)
	stop := sync.OnceFunc(runInBackground(t, in))
	defer stop()
	testenv.WaitCommitted(t, kc, cfg.Group, 2*time.Minute)
	stop()
	checkPipelineStored(t, ch, referrals)
	return store
}

// TestStreamSpansBatches: batches are streamed into INSERTs of several
// (--insert-rows), and every record is stored, ordered and committed.
func TestStreamSpansBatches(t *testing.T) {
	store := streamTest(t, 1000, nil)
	if store.appends < 2 || store.streams >= store.appends {
		t.Errorf("%d INSERTs for %d batches, want batches sharing INSERTs", store.streams, store.appends)
	}
}

// TestStreamFailureConsumesAgain: an INSERT that breaks after its batches'
// rows were sent commits none of them; the ingester consumes them again from
// the committed offsets and stores every record.
func TestStreamFailureConsumesAgain(t *testing.T) {
	store := streamTest(t, 1000, func(s *countingStore, cfg *Config) {
		s.failFirst = true
		cfg.RetryBackoffMin, cfg.RetryBackoffMax = 10*time.Millisecond, 50*time.Millisecond
	})
	if store.streams < 2 || store.first < 1 {
		t.Errorf("%d INSERTs, %d batches in the broken one; want it and the ones after", store.streams, store.first)
	}
}

// TestStreamEndsInBackground: while an INSERT ends (ClickHouse writing its
// parts and running the views), the next one streams; its batches are still
// committed after it, and every record is stored.
func TestStreamEndsInBackground(t *testing.T) {
	store := streamTest(t, 10, func(s *countingStore, _ *Config) { s.holdFirst, s.releaseOn = make(chan struct{}), 2 }) // an INSERT per batch of 10
	if !store.overlapped {
		t.Errorf("the second INSERT did not stream while the first was ending (%d INSERTs)", store.streams)
	}
}

// TestStreamEndsTwoAtOnce: two INSERTs may be ending while a third streams
// (maxEndings), and their batches are still committed in order.
func TestStreamEndsTwoAtOnce(t *testing.T) {
	store := streamTest(t, 10, func(s *countingStore, _ *Config) { s.holdFirst, s.releaseOn = make(chan struct{}), 3 })
	if !store.overlapped {
		t.Errorf("the third INSERT did not stream while the first was ending (%d INSERTs)", store.streams)
	}
}
