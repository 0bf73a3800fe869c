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
	// most) for the second INSERT's first Append; overlapped tells whether
	// it came while the first was ending.
	holdFirst  chan struct{}
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
	if c.n == 2 && c.store.holdFirst != nil && !c.store.released {
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

// TestStreamSpansBatches: batches are streamed into INSERTs of several
// (--insert-rows), and every record is stored, ordered and committed.
func TestStreamSpansBatches(t *testing.T) {
	const referrals = 40
	kc, ch, cfg := pipelineTest(t, referrals)
	cfg.BatchMaxAge, cfg.InsertRows = 2*time.Second, 1000
	store := &countingStore{ClickHouseStore: NewClickHouseStore(ch.Conn, ch.Database, 1, true)}
	in := testIngester(t, kc, cfg, store)
	defer runInBackground(t, in)()
	testenv.WaitCommitted(t, kc, cfg.Group, 2*time.Minute)

	store.mu.Lock()
	streams, appends := store.streams, store.appends
	store.mu.Unlock()
	if appends < 2 || streams >= appends {
		t.Errorf("%d INSERTs for %d batches, want batches sharing INSERTs", streams, appends)
	}
	checkPipelineStored(t, ch, referrals)
}

// TestStreamFailureConsumesAgain: an INSERT that breaks after its batches'
// rows were sent commits none of them; the ingester consumes them again from
// the committed offsets and stores every record.
func TestStreamFailureConsumesAgain(t *testing.T) {
	const referrals = 40
	kc, ch, cfg := pipelineTest(t, referrals)
	cfg.BatchMaxAge, cfg.InsertRows = 2*time.Second, 1000
	cfg.RetryBackoffMin, cfg.RetryBackoffMax = 10*time.Millisecond, 50*time.Millisecond
	store := &countingStore{ClickHouseStore: NewClickHouseStore(ch.Conn, ch.Database, 1, true), failFirst: true}
	in := testIngester(t, kc, cfg, store)
	defer runInBackground(t, in)()
	testenv.WaitCommitted(t, kc, cfg.Group, 2*time.Minute)

	store.mu.Lock()
	streams, first := store.streams, store.first
	store.mu.Unlock()
	if streams < 2 || first < 1 {
		t.Errorf("%d INSERTs, %d batches in the broken one; want it and the ones after", streams, first)
	}
	checkPipelineStored(t, ch, referrals)
}

// TestStreamEndsInBackground: while an INSERT ends (ClickHouse writing its
// parts and running the views), the next one streams; its batches are still
// committed after it, and every record is stored.
func TestStreamEndsInBackground(t *testing.T) {
	const referrals = 40
	kc, ch, cfg := pipelineTest(t, referrals)
	cfg.BatchMaxAge, cfg.InsertRows = 2*time.Second, 10 // an INSERT per batch of 10
	store := &countingStore{ClickHouseStore: NewClickHouseStore(ch.Conn, ch.Database, 1, true), holdFirst: make(chan struct{})}
	in := testIngester(t, kc, cfg, store)
	defer runInBackground(t, in)()
	testenv.WaitCommitted(t, kc, cfg.Group, 2*time.Minute)

	store.mu.Lock()
	overlapped, streams := store.overlapped, store.streams
	store.mu.Unlock()
	if !overlapped {
		t.Errorf("the second INSERT did not stream while the first was ending (%d INSERTs)", streams)
	}
	checkPipelineStored(t, ch, referrals)
}
