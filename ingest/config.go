package ingest

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"time"

	"github.com/referralops/referralops/metrics/selfmetrics"
	"github.com/referralops/referralops/schema"
)

// Config is the ingester's own settings. Kafka, ClickHouse and the event
// contract have theirs in their packages.
type Config struct {
	Group           string        `yaml:"group"`
	BatchRows       int           `yaml:"batch_rows"`
	BatchMaxAge     time.Duration `yaml:"batch_max_age"`
	ShutdownGrace   time.Duration `yaml:"shutdown_grace"`
	RetryBackoffMin time.Duration `yaml:"retry_backoff_min"`
	RetryBackoffMax time.Duration `yaml:"retry_backoff_max"`
	Listen          string        `yaml:"listen"`
	InsertParallel  int           `yaml:"insert_parallelism"`
	// InsertRows: batches are streamed into one INSERT until it holds this
	// many rows or is BatchMaxAge old (stream.go); 0, or InsertParallel > 1:
	// an INSERT per batch.
	InsertRows int `yaml:"insert_rows"`
	// ParallelViews has the server run an INSERT's materialized views in
	// parallel (parallel_view_processing).
	ParallelViews bool `yaml:"parallel_views"`
	// StallTimeout is how long records may wait with nothing committed before
	// /readyz says the ingester is stalled.
	StallTimeout time.Duration `yaml:"stall_timeout"`
	// MemoryLimit is the Go runtime's soft memory limit in bytes (0: none): the
	// garbage collector works harder near it instead of letting the heap
	// double, keeping the process within a container's memory.
	MemoryLimit int64 `yaml:"memory_limit_bytes"`
	// MaxBufferedBytes bounds the records held between fetch and insert; 0
	// derives it from MemoryLimit (BufferedBytes).
	MaxBufferedBytes int64 `yaml:"max_buffered_bytes"`
	// OffsetOutOfRange is what to do when records were deleted from a
	// partition before the group consumed them: OffsetOutOfRangeEarliest or
	// OffsetOutOfRangeFail.
	OffsetOutOfRange string `yaml:"offset_out_of_range"`
	// PatientOrderRecheck repeats each batch's patient-order recompute after
	// this delay (0: never); for clusters (recheck.go).
	PatientOrderRecheck time.Duration `yaml:"patient_order_recheck"`
	// KPIStateInterval is how often the ingester brings the per-referral KPI
	// state up to date (kpistate.go; 0: never); KPIStateMargin how long a
	// pass leaves the latest touches alone (schema.DefaultKPIStateMargin).
	KPIStateInterval time.Duration `yaml:"kpi_state_interval"`
	KPIStateMargin   time.Duration `yaml:"kpi_state_margin"`
}

// The policies of --offset-out-of-range.
const (
	// OffsetOutOfRangeEarliest skips to the partition's log start, counting
	// and logging the records skipped.
	OffsetOutOfRangeEarliest = "earliest"
	// OffsetOutOfRangeFail stops the ingester (not ready, exit status 1),
	// naming the partition and the gap, and skips nothing.
	OffsetOutOfRangeFail = "fail"
)

// BufferedBytes is the bound of the records held between fetch and insert:
// MaxBufferedBytes, or by default a quarter of the memory limit (64 MiB
// without one). A quarter, because a batch exists up to about three times
// while it is settled (the records, the ClickHouse block or dead-letter
// batch being sent, and the garbage collector's slack).
func (c Config) BufferedBytes() int64 {
	switch {
	case c.MaxBufferedBytes > 0:
		return c.MaxBufferedBytes
	case c.MemoryLimit > 0:
		return c.MemoryLimit / 4
	}
	return 64 << 20
}

// DefaultConfig is the configuration of the defaults.
func DefaultConfig() Config {
	return Config{
		Group:            "referralops-ingest",
		BatchRows:        50000,
		BatchMaxAge:      time.Second,
		ShutdownGrace:    30 * time.Second,
		RetryBackoffMin:  200 * time.Millisecond,
		RetryBackoffMax:  15 * time.Second,
		Listen:           ":9465",
		InsertParallel:   1,
		InsertRows:       250000,
		ParallelViews:    true,
		StallTimeout:     selfmetrics.StallAfter,
		MemoryLimit:      256 << 20,
		OffsetOutOfRange: OffsetOutOfRangeEarliest,
		KPIStateInterval: 30 * time.Second,
		KPIStateMargin:   schema.DefaultKPIStateMargin,
	}
}

// RegisterFlags registers the ingester's flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Group, "group", c.Group, "Kafka consumer group; ingesters in one group share the partitions")
	fs.IntVar(&c.BatchRows, "batch-rows", c.BatchRows, "insert a batch once it holds this many messages")
	fs.DurationVar(&c.BatchMaxAge, "batch-max-age", c.BatchMaxAge, "insert a batch once its first message is this old")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", c.ShutdownGrace, "on SIGTERM, time allowed to flush and commit before exiting")
	fs.DurationVar(&c.RetryBackoffMin, "retry-backoff-min", c.RetryBackoffMin, "first wait before retrying a failed insert, dead-letter write or commit")
	fs.DurationVar(&c.RetryBackoffMax, "retry-backoff-max", c.RetryBackoffMax, "longest wait between retries")
	fs.StringVar(&c.Listen, "listen", c.Listen, "address of /metrics, /healthz and /readyz")
	fs.Int64Var(&c.MemoryLimit, "memory-limit-bytes", c.MemoryLimit, "soft memory limit of the Go runtime (0: none; GOMEMLIMIT overrides)")
	fs.Int64Var(&c.MaxBufferedBytes, "max-buffered-bytes", c.MaxBufferedBytes,
		"bound of the records held between fetch and insert, in bytes (0: a quarter of --memory-limit-bytes, or 64 MiB without one)")
	fs.StringVar(&c.OffsetOutOfRange, "offset-out-of-range", c.OffsetOutOfRange,
		"when retention deleted records the group had not consumed: earliest (skip them, counted and logged) or fail (exit, naming the partition)")
	fs.DurationVar(&c.StallTimeout, "stall-timeout", c.StallTimeout, "/readyz fails once records have waited this long with nothing committed")
	fs.DurationVar(&c.PatientOrderRecheck, "patient-order-recheck", c.PatientOrderRecheck,
		"on a ClickHouse cluster, recompute each batch's CMS50-style patient order again after this delay, once replicas have caught up (e.g. 1m; 0: never, enough for one server)")
	fs.DurationVar(&c.KPIStateInterval, "kpi-state-interval", c.KPIStateInterval,
		"bring the per-referral KPI state (what the KPI queries read when referral ids do not sort by time) up to date this often, not while a backlog waits (0: never: the KPI queries then read the facts of every referral stored since the last pass, as slowly as without the state)")
	fs.DurationVar(&c.KPIStateMargin, "kpi-state-margin", c.KPIStateMargin,
		"leave events stored this recently to the next KPI state pass: longer than an INSERT's materialized views take and, on a cluster, than replication lags")
	fs.BoolVar(&c.ParallelViews, "parallel-views", c.ParallelViews, "have ClickHouse run each INSERT's materialized views in parallel (parallel_view_processing)")
	fs.IntVar(&c.InsertParallel, "insert-parallelism", c.InsertParallel, "concurrent INSERTs a batch is split into (ClickHouse runs each on one thread)")
	fs.IntVar(&c.InsertRows, "insert-rows", c.InsertRows,
		"stream batches into one INSERT until it holds this many rows or is --batch-max-age old (0: an INSERT per batch; with --insert-parallelism > 1 too)")
}

// Validate checks the settings; errors name the flag.
func (c Config) Validate() error {
	var errs []error
	if c.Group == "" {
		errs = append(errs, errors.New("group: must not be empty"))
	}
	if c.BatchRows <= 0 {
		errs = append(errs, fmt.Errorf("batch-rows: must be > 0, got %d", c.BatchRows))
	}
	if c.BatchMaxAge <= 0 {
		errs = append(errs, fmt.Errorf("batch-max-age: must be > 0, got %s", c.BatchMaxAge))
	}
	if c.ShutdownGrace <= 0 {
		errs = append(errs, fmt.Errorf("shutdown-grace: must be > 0, got %s", c.ShutdownGrace))
	}
	if c.RetryBackoffMin <= 0 || c.RetryBackoffMax < c.RetryBackoffMin {
		errs = append(errs, fmt.Errorf("retry-backoff-min, retry-backoff-max: need 0 < min <= max, got %s and %s", c.RetryBackoffMin, c.RetryBackoffMax))
	}
	if c.StallTimeout <= 0 {
		errs = append(errs, fmt.Errorf("stall-timeout: must be > 0, got %s", c.StallTimeout))
	}
	if c.MemoryLimit < 0 {
		errs = append(errs, fmt.Errorf("memory-limit-bytes: must be >= 0, got %d", c.MemoryLimit))
	}
	if c.MaxBufferedBytes < 0 {
		errs = append(errs, fmt.Errorf("max-buffered-bytes: must be >= 0, got %d", c.MaxBufferedBytes))
	}
	if c.OffsetOutOfRange != OffsetOutOfRangeEarliest && c.OffsetOutOfRange != OffsetOutOfRangeFail {
		errs = append(errs, fmt.Errorf("offset-out-of-range: must be %s or %s, got %q", OffsetOutOfRangeEarliest, OffsetOutOfRangeFail, c.OffsetOutOfRange))
	}
	if c.PatientOrderRecheck < 0 {
		errs = append(errs, fmt.Errorf("patient-order-recheck: must be >= 0, got %s", c.PatientOrderRecheck))
	}
	if c.KPIStateInterval < 0 {
		errs = append(errs, fmt.Errorf("kpi-state-interval: must be >= 0, got %s", c.KPIStateInterval))
	}
	if c.KPIStateMargin < time.Second {
		errs = append(errs, fmt.Errorf("kpi-state-margin: must be >= 1s, got %s", c.KPIStateMargin))
	}
	if c.InsertRows < 0 {
		errs = append(errs, fmt.Errorf("insert-rows: must be >= 0, got %d", c.InsertRows))
	}
	if c.InsertParallel < 1 || c.InsertParallel > 16 {
		errs = append(errs, fmt.Errorf("insert-parallelism: must be 1 to 16, got %d", c.InsertParallel))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen: %q is not host:port", c.Listen))
	}
	return errors.Join(errs...)
}
