package demo

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/referralops/referralops/ingest"
	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/ingest/mapping"
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/httpserver"
	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/metrics/kpi"
	"github.com/referralops/referralops/schema"
)

// Sections are the settings the demo shares with the ingest and export
// commands: pointers into the command's configuration, so that the YAML
// file's sections, the environment and the flags fill them as they do for
// those commands.
type Sections struct {
	ClickHouse *clickhouse.Config
	Kafka      *broker.Config
	Event      *event.Config
	Ingest     *ingest.Config
	KPI        *kpi.Config
	Export     *metrics.Config
	HTTP       *httpserver.Config
}

// Config is the demo's settings: the shared sections and its own flags.
type Config struct {
	Sections

	stream         generator.StreamConfig
	referrals      int           // created in the replayed period
	days           int           // the replayed period
	speed          float64       // simulated seconds per wall second while catching up
	catchUp        time.Duration // simulated time streamed live at speed before following the wall clock
	embeddedListen string
	embedded       bool // no broker was named: run the embedded one
	fresh          bool
	exit           bool
	timeout        time.Duration // for the replay to be stored
	prometheusURL  string
	viewInterval   time.Duration
	dashboards     string
	now            func() time.Time

	standardFeeds bool   // a third of the referrals as HL7 v2 over MLLP, a third as FHIR
	siteConfig    string // the site config of the standard feeds; "" the embedded example
	site          mapping.Config
	key           []byte // the patient token key
	randomKey     bool   // no key was set: key is this run's own
	users         users
}

// NewConfig is the demo's defaults; it also sets the demo's own defaults of
// the shared sections (its consumer group, no memory limit, a faster refresh,
// no broker named).
func NewConfig(s Sections) *Config {
	// Empty until a layer sets it: the flag, its variable and the file all
	// write this field, and none of them writes an empty list.
	s.Kafka.Brokers = nil
	s.Ingest.Group = "referralops-demo"
	s.Ingest.MemoryLimit = 0 // the embedded broker holds the replay in memory too
	s.Export.RefreshInterval = 10 * time.Second
	return &Config{
		Sections:       s,
		stream:         generator.DefaultStreamConfig(),
		referrals:      45000,
		days:           90,
		speed:          60,
		catchUp:        24 * time.Hour,
		embeddedListen: "127.0.0.1:9092",
		timeout:        10 * time.Minute,
		prometheusURL:  "http://127.0.0.1:9090",
		viewInterval:   3 * time.Second,
		dashboards:     "deploy/grafana/dashboards",
		now:            time.Now,
		standardFeeds:  true,
		users:          defaultUsers(),
	}
}

// RegisterFlags registers the demo's flags and those of the shared sections
// it uses.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.stream.RegisterFlags(fs)
	fs.IntVar(&c.referrals, "referrals", c.referrals, "referrals created in the replayed --days; the live stream keeps the same daily rate")
	fs.IntVar(&c.days, "days", c.days, "days of referrals replayed before streaming live")
	fs.Float64Var(&c.speed, "live-speed", c.speed, "simulated seconds per wall second while the live stream catches up with now (60: an hour a minute)")
	fs.DurationVar(&c.catchUp, "live-catchup", c.catchUp, "the replay ends this long before now; the live stream plays it at --live-speed, then follows the wall clock")
	fs.StringVar(&c.embeddedListen, "embedded-kafka-listen", c.embeddedListen, "address of the embedded Kafka broker (used unless --kafka-brokers is given)")
	fs.BoolVar(&c.fresh, "fresh", c.fresh, "drop and recreate the ClickHouse database first (default: keep it and resume)")
	fs.BoolVar(&c.exit, "exit", c.exit, "exit once the replay is stored and the KPI table printed, instead of streaming live until Ctrl-C")
	fs.DurationVar(&c.timeout, "timeout", c.timeout, "give up if the replay is not stored by then")
	fs.StringVar(&c.prometheusURL, "prometheus-url", c.prometheusURL, "the Prometheus that scrapes the demo's /metrics (printed, and checked)")
	fs.BoolVar(&c.standardFeeds, "standard-feeds", c.standardFeeds, "send a third of the referrals as HL7 v2 through an in-process MLLP receiver and a third as FHIR R4 to --topic-fhir, mapped with --site-config; false: all CloudEvents")
	fs.StringVar(&c.siteConfig, "site-config", c.siteConfig, "the site config that maps the HL7 v2 and FHIR feeds (default: the embedded docs/examples/site-config.yaml); the simulated network's provider directory is added to it; the patient token key comes from "+mapping.KeyEnv+" (default: a random key per run)")
	fs.DurationVar(&c.viewInterval, "view-interval", c.viewInterval, "how often the live view is printed")

	c.ClickHouse.RegisterFlags("", fs)
	if f := fs.Lookup("clickhouse-dsn"); f != nil {
		f.Usage = "ClickHouse native-protocol DSN: the server and the database (it must be one the referralops_* users may use: CLICKHOUSE_DATABASE of deploy/local/clickhouse.sh). Without a user, the migrations run as " +
			schema.MigratorUser + ", the ingester as " + schema.WriterUser + " and the exporter as " + schema.ExporterUser + " (the passwords below); with one, e.g. clickhouse://default@127.0.0.1:9000/db, every part runs as that user"
	}
	c.users.registerFlags(fs)
	c.Kafka.RegisterFlags(fs)
	if f := fs.Lookup("kafka-brokers"); f != nil {
		f.DefValue = ""
		f.Usage = "comma-separated Kafka bootstrap brokers (host:port) to use instead of the embedded broker"
	}
	c.Event.RegisterFlags("", fs)
	c.Ingest.RegisterFlags(fs)
	c.KPI.RegisterFlags("", fs)
	c.HTTP.RegisterFlags(fs)
	fs.StringVar(&c.Export.Listen, "export-listen", c.Export.Listen, "address of the KPI exporter's /metrics")
	fs.DurationVar(&c.Export.RefreshInterval, "refresh-interval", c.Export.RefreshInterval, "how often the exporter (and the live view's KPI table) re-evaluates the KPIs")
}

// Validate reports every invalid setting. It also decides whether to embed a
// broker: only when no layer (flag, REFERRALOPS_KAFKA_BROKERS, the file)
// names one.
func (c *Config) Validate() error {
	var errs []error
	c.embedded = len(c.Kafka.Brokers) == 0
	if c.embedded {
		c.Kafka.Brokers = []string{c.embeddedListen} // validated as host:port
		if c.Kafka.Secured() {
			errs = append(errs, errors.New("kafka-tls, kafka-sasl-mechanism: the embedded broker speaks neither; they need --kafka-brokers"))
		}
	}
	c.stream.MaxMessageBytes = c.Event.MaxMessageBytes
	errs = append(errs, c.validateOwn(), c.ClickHouse.Validate(), c.Kafka.Validate(), c.Event.Validate(),
		c.Ingest.Validate(), c.KPI.Validate(), c.Export.Validate(), c.HTTP.Validate())
	return errors.Join(errs...)
}

// Embedded says whether the demo runs its own broker; known after Validate.
func (c *Config) Embedded() bool { return c.embedded }

// validateOwn checks the demo's own flags and derives the stream's daily rate.
func (c *Config) validateOwn() error {
	var errs []error
	if c.days < 1 || c.days > 365 {
		errs = append(errs, fmt.Errorf("days: must be between 1 and 365, got %d", c.days))
	}
	if c.referrals < 1 {
		errs = append(errs, fmt.Errorf("referrals: must be > 0, got %d", c.referrals))
	} else if c.days >= 1 {
		c.stream.PerDay = float64(c.referrals) / float64(c.days)
		if err := c.stream.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("referrals, days: %w", err))
		}
	}
	if !(c.speed >= 1) {
		errs = append(errs, fmt.Errorf("live-speed: must be >= 1, got %v", c.speed))
	}
	if c.catchUp < 0 {
		errs = append(errs, fmt.Errorf("live-catchup: must be >= 0, got %s", c.catchUp))
	}
	if c.timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout: must be > 0, got %s", c.timeout))
	}
	if c.viewInterval <= 0 {
		errs = append(errs, fmt.Errorf("view-interval: must be > 0, got %s", c.viewInterval))
	}
	if c.standardFeeds {
		errs = append(errs, c.loadSite())
		if c.Kafka.Topics.HL7v2 == "" || c.Kafka.Topics.FHIR == "" {
			errs = append(errs, errors.New("topic-hl7v2, topic-fhir: required with --standard-feeds"))
		}
	}
	return errors.Join(errs...)
}
