package ingest

import (
	"context"
	"time"

	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/schema"
)

// The ingesters keep the per-referral KPI state (migration 0018): every
// --kpi-state-interval a pass rewrites the state of the referrals stored since
// the last one (schema.PassKPIState). The exporter cannot: it is read-only,
// and ClickHouse 18.16 cannot grant a user writes to some tables only. A pass
// is idempotent, so several ingesters may run theirs; a failed one is done
// again by the next, and until then the KPI queries read those referrals'
// facts instead: it costs them time, never a number.

// kpiStatePasser is a Store that can run a KPI state pass
// (ClickHouseStore.PassKPIState).
type kpiStatePasser interface {
	PassKPIState(ctx context.Context, margin time.Duration) (schema.KPIStatePass, error)
}

// The outcome label values of the pass counter.
const (
	kpiStatePassed = "passed"
	kpiStateFailed = "failed"
)

// keepKPIState runs a pass every interval until ctx ends, except while a
// backlog is being worked off.
func (in *Ingester) keepKPIState(ctx context.Context, p kpiStatePasser) {
	t := time.NewTicker(in.cfg.KPIStateInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if in.fetchLag.Load() >= int64(in.cfg.BatchRows) {
			// A backlog is being worked off: a pass would take the
			// server's CPU from the inserts, and rewrite referrals that
			// are touched again soon. The KPI queries read their facts
			// meanwhile; the first tick after it passes them all.
			continue
		}
		start := time.Now()
		pass, err := p.PassKPIState(ctx, in.cfg.KPIStateMargin)
		if err != nil {
			if ctx.Err() == nil {
				in.metrics.kpiStatePasses.WithLabelValues(kpiStateFailed).Inc()
				in.logger.Warn("KPI state pass failed; the next one does its work again", "err", err)
			}
			continue
		}
		in.metrics.kpiStatePasses.WithLabelValues(kpiStatePassed).Inc()
		in.metrics.kpiStateReferrals.Add(float64(pass.Referrals))
		in.metrics.kpiStateCovered.Set(float64(pass.To.Unix()))
		if pass.Referrals > 0 {
			in.logger.Debug("KPI state pass", "referrals", pass.Referrals, "covered_to", pass.To, "seconds", time.Since(start).Seconds())
		}
	}
}

// PassKPIState implements kpiStatePasser.
func (s *ClickHouseStore) PassKPIState(ctx context.Context, margin time.Duration) (schema.KPIStatePass, error) {
	return schema.PassKPIState(ctx, clickhouse.Native{Conn: s.conn}, s.database, margin)
}
