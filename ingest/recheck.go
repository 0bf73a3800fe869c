package ingest

import (
	"context"
	"sync"
	"time"
)

// On a cluster the patient-order recompute that follows each batch reads
// every shard through the Distributed table, from one replica per shard. A
// referral of the same patient written a moment earlier through another
// replica (another ingester's, or any during a failover) may not have
// reached that replica yet, and the recompute then orders the patient's
// referrals without it. --patient-order-recheck repeats the recompute of each
// batch's patients once more after a delay, when replication has caught up;
// the recompute is idempotent and a later one from more data wins (schema
// RefreshPatientOrder), so a repeat only ever corrects. A single server never
// needs it.

// maxRecheckReferrals bounds the referrals waiting for their recheck (about
// 40 bytes each): a backfill's pace would otherwise hold every referral of
// the last delay. Beyond it the oldest are dropped, counted and logged.
const maxRecheckReferrals = 250_000

// recheckQueue holds the referrals of stored batches until their recheck is
// due, oldest first.
type recheckQueue struct {
	after time.Duration
	limit int

	mu      sync.Mutex
	batches []recheckBatch
	size    int // referrals in batches
	dropped int // since the last take
}

type recheckBatch struct {
	due       time.Time
	referrals []string
}

func newRecheckQueue(after time.Duration, limit int) *recheckQueue {
	return &recheckQueue{after: after, limit: limit}
}

// add queues referrals stored at now, to be rechecked at now + the delay.
func (q *recheckQueue) add(now time.Time, referrals []string) {
	if len(referrals) == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.batches = append(q.batches, recheckBatch{due: now.Add(q.after), referrals: referrals})
	q.size += len(referrals)
	for q.size > q.limit {
		oldest := &q.batches[0]
		n := min(len(oldest.referrals), q.size-q.limit)
		oldest.referrals = oldest.referrals[n:]
		q.size -= n
		q.dropped += n
		if len(oldest.referrals) == 0 {
			q.batches = q.batches[1:]
		}
	}
}

// take removes and returns the referrals due at now, and how many were
// dropped since the last take.
func (q *recheckQueue) take(now time.Time) (due []string, dropped int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for n < len(q.batches) && !q.batches[n].due.After(now) {
		due = append(due, q.batches[n].referrals...)
		n++
	}
	q.batches = q.batches[n:]
	q.size -= len(due)
	dropped, q.dropped = q.dropped, 0
	return due, dropped
}

// pending is how many referrals wait.
func (q *recheckQueue) pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.size
}

// patientOrderRechecker is a Store that repeats its patient-order recompute
// later (ClickHouseStore.RecheckPatientOrder).
type patientOrderRechecker interface {
	// RecheckDue recomputes the patient order of the referrals due at now.
	// It returns how many were rechecked (or failed, with err: they are queued
	// again for the next delay) and how many were dropped from a full queue
	// since the last call.
	RecheckDue(ctx context.Context, now time.Time) (rechecked, dropped int, err error)
	// RecheckPending is how many referrals wait for their recheck.
	RecheckPending() int
	// RecheckDelay is the delay before a recheck; 0 means none are made.
	RecheckDelay() time.Duration
}

// rechecker is the store as a patientOrderRechecker when it makes rechecks.
func (in *Ingester) rechecker() (patientOrderRechecker, bool) {
	r, ok := in.store.(patientOrderRechecker)
	return r, ok && r.RecheckDelay() > 0
}

// recheckPatientOrder runs the store's due rechecks every second until ctx
// ends. The ones still waiting then are lost: the order they would correct
// is corrected by the patient's next referral, or by
// `referralops migrate`'s full recompute.
func (in *Ingester) recheckPatientOrder(ctx context.Context, r patientOrderRechecker) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if n := r.RecheckPending(); n > 0 {
				in.logger.Warn("stopping with patient-order rechecks not run", "referrals", n)
			}
			return
		case now := <-t.C:
			n, dropped, err := r.RecheckDue(ctx, now)
			if dropped > 0 {
				in.metrics.patientOrderRechecks.WithLabelValues(recheckDropped).Add(float64(dropped))
				in.logger.Warn("patient-order recheck queue full: the oldest referrals will not be rechecked", "referrals", dropped, "limit", maxRecheckReferrals)
			}
			if err != nil {
				if ctx.Err() == nil {
					in.metrics.patientOrderRechecks.WithLabelValues(recheckFailed).Add(float64(n))
					in.logger.Warn("patient-order recheck failed; queued again", "referrals", n, "err", err)
				}
				continue
			}
			in.metrics.patientOrderRechecks.WithLabelValues(recheckDone).Add(float64(n))
		}
	}
}

// The result label values of the recheck counter.
const (
	recheckDone    = "rechecked"
	recheckFailed  = "failed"
	recheckDropped = "dropped"
)
