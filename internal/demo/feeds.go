package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/docs/examples"
	"github.com/referralops/referralops/ingest/mapping"
	"github.com/referralops/referralops/ingest/mllp"
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/sitefeed"
)

// Input formats, as the ingester's format label names them.
const (
	formatCloudEvents = "cloudevents"
	formatHL7v2       = string(mapping.FormatHL7v2)
	formatFHIR        = string(mapping.FormatFHIR)
)

// providerHorizon is how far past the replay the mapper's provider directory
// reaches: referrers who take a seat later fall back to the organisation
// table, which a demo does not run long enough to see.
const providerHorizon = 365 * 24 * time.Hour

// mllpConnections is how many MLLP connections the demo's interface engine
// opens: each waits for an ACK (after Kafka's) before its next message, so
// several keep a quarter's replay to a minute or so.
const mllpConnections = 16

// loadSite reads the site config of the standard feeds (the embedded
// example unless --site-config names a file) and the patient token key of
// mapping.KeyEnv; without one the run gets a random key (tokens then differ
// between runs; no KPI reads them).
func (c *Config) loadSite() error {
	site, err := mapping.ParseConfig(examples.SiteConfig)
	if c.siteConfig != "" {
		site, err = mapping.LoadConfig(c.siteConfig)
	}
	if err == nil {
		err = site.Validate()
	}
	if err != nil {
		return fmt.Errorf("site-config: %w", err)
	}
	c.site = site
	if os.Getenv(mapping.KeyEnv) == "" {
		c.key = make([]byte, 32)
		_, _ = rand.Read(c.key) // never fails (crypto/rand)
		c.randomKey = true
		return nil
	}
	c.key, err = mapping.KeyFromEnv()
	return err
}

// siteMapper maps the standard feeds: the site config with the stream's
// provider directory.
func (c *Config) siteMapper(stream *generator.Stream, until time.Time) (*mapping.Mapper, error) {
	return mapping.New(sitefeed.SiteConfig(c.site, stream.Providers(until.Add(providerHorizon))), c.key)
}

// feeds sends the simulated network in three formats, as a hospital's
// referrals arrive: a third of the referrals (by referral id) from an HL7 v2
// interface engine over MLLP to an in-process receiver, a third as FHIR R4 to
// the FHIR topic, the rest as CloudEvents. Events a format has no message for
// stay CloudEvents (sitefeed.Carries), as do invalid messages.
//
// emit and flush are called from one goroutine (the generator's).
type feeds struct {
	kc        broker.Config
	p         *broker.Producer
	hl7, fhir *sitefeed.Feed
	key       []byte // the mapping's: the CloudEvents third carries the tokens it gives

	srv     *mllp.Server
	w       *kafka.Writer
	stopSrv context.CancelFunc
	srvDone chan error
	queues  []chan []byte
	senders sync.WaitGroup
	pending sync.WaitGroup // HL7 v2 messages queued and not yet ACKed AA
	mu      sync.Mutex
	err     error // the first send that failed for good
}

// startFeeds starts the MLLP receiver (writing to kc's HL7 v2 topic) and the
// engine's connections to it.
func startFeeds(ctx context.Context, kc broker.Config, p *broker.Producer, key []byte, logger *slog.Logger) (*feeds, error) {
	w, err := broker.NewWriter(kc, "")
	if err != nil {
		return nil, err
	}
	cfg := mllp.DefaultConfig()
	cfg.Listen, cfg.Topic = "127.0.0.1:0", kc.Topics.HL7v2
	// Its metrics are not served: the demo's endpoints are the ingester's and the exporter's.
	srv := mllp.New(cfg, w, logger.With("step", "mllp"), prometheus.NewRegistry())
	if err := srv.Listen(); err != nil {
		w.Close()
		return nil, err
	}
	srvCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	f := &feeds{kc: kc, p: p, key: key, hl7: sitefeed.New(mapping.FormatHL7v2), fhir: sitefeed.New(mapping.FormatFHIR),
		srv: srv, w: w, stopSrv: stop, srvDone: make(chan error, 1)}
	go func() { f.srvDone <- srv.Run(srvCtx) }()
	for range mllpConnections {
		q := make(chan []byte, 256)
		f.queues = append(f.queues, q)
		f.senders.Add(1)
		go f.send(ctx, q)
	}
	return f, nil
}

// Addr is the MLLP receiver's address.
func (f *feeds) Addr() string { return f.srv.Addr().String() }

// route is the format of a referral's messages.
func route(key []byte) string {
	h := fnv.New32a()
	h.Write(key)
	switch h.Sum32() % 3 {
	case 0:
		return formatHL7v2
	case 1:
		return formatFHIR
	}
	return formatCloudEvents
}

func (f *feeds) emit(ctx context.Context, m generator.Message) error {
	if err := f.failed(); err != nil {
		return err
	}
	switch route(m.Key) {
	case formatHL7v2:
		if r := f.hl7.Convert(m); r.Standard {
			h := fnv.New32a()
			h.Write(m.Key) // one connection per referral keeps its messages in order
			f.pending.Add(1)
			select {
			case f.queues[h.Sum32()%uint32(len(f.queues))] <- r.Value:
				return nil
			case <-ctx.Done():
				f.pending.Done()
				return ctx.Err()
			}
		}
	case formatFHIR:
		if r := f.fhir.Convert(m); r.Standard {
			return f.p.Send(ctx, f.kc.Topics.FHIR, r.Key, r.Value, broker.Headers(r.Headers))
		}
	}
	return f.p.Send(ctx, f.kc.Topics.For(m.Stream), m.Key, f.siteTokens(m), broker.Headers(m.Headers))
}

// tokenMember is how a patient token appears in a generated CloudEvent.
var tokenMember = []byte(`"patient_token":"`)

// siteTokens gives a CloudEvent the patient token the site's HL7 v2 and FHIR
// feeds give the same patient (sitefeed.SiteToken), as an upstream hashing
// MRNs under the same key would: one patient, one token, whatever the format
// of each of its referrals (the CMS50-style cohort counts patients).
func (f *feeds) siteTokens(m generator.Message) []byte {
	i := bytes.Index(m.Value, tokenMember)
	if m.Invalid != "" || i < 0 {
		return m.Value
	}
	start := i + len(tokenMember)
	end := bytes.IndexByte(m.Value[start:], '"')
	if end <= 0 {
		return m.Value
	}
	token := sitefeed.SiteToken(f.key, string(m.Value[start:start+end]))
	return slices.Concat(m.Value[:start], []byte(token), m.Value[start+end:])
}

// flush returns once everything emitted is acknowledged: by Kafka, and for
// HL7 v2 by the receiver's AA (which comes after Kafka's).
func (f *feeds) flush(ctx context.Context) error {
	if err := f.p.Flush(ctx); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { f.pending.Wait(); close(done) }()
	select {
	case <-done:
		return f.failed()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *feeds) failed() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *feeds) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
}

// send is one connection of the interface engine: each message until its
// AA, resending after an AE (Kafka unavailable) and on a new connection after
// a broken one, as engines do; a duplicate this makes is deduplicated by its
// control id. AR (refused) is a failure: the feed sends only valid messages.
func (f *feeds) send(ctx context.Context, q <-chan []byte) {
	defer f.senders.Done()
	var c *mllp.Client
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for msg := range q {
		for ctx.Err() == nil && f.failed() == nil {
			var err error
			if c == nil {
				if c, err = mllp.Dial(ctx, f.Addr(), 30*time.Second); err != nil {
					f.fail(fmt.Errorf("MLLP receiver %s: %w", f.Addr(), err))
					break
				}
			}
			code, text, err := c.Send(msg)
			if err != nil {
				c.Close()
				c = nil
				continue
			}
			if code == "AA" {
				break
			}
			if code != "AE" {
				f.fail(fmt.Errorf("MLLP receiver answered %s: %s", code, text))
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
		f.pending.Done()
	}
}

// close stops the engine's connections, then the receiver (which finishes
// the message it is storing), then its Kafka writer.
func (f *feeds) close() error {
	for _, q := range f.queues {
		close(q)
	}
	f.senders.Wait()
	f.stopSrv()
	err := <-f.srvDone
	return errors.Join(err, f.w.Close())
}
