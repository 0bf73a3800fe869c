package ingest_test

import (
	"context"
	"crypto/sha256"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/ingest/mapping"
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/sitefeed"
	"github.com/referralops/referralops/internal/testenv"
)

const tokenKey = "e2e-only-patient-token-key-0123456789"

// Hand-written standard messages beside the generated feed: each outcome the
// ingester must give a message that is no clean referral event.
var standardExtras = []struct {
	format mapping.Format
	value  string
	dead   event.Reason       // dead-lettered with this reason
	skip   mapping.SkipReason // or skipped for this one
}{
	{mapping.FormatHL7v2, "this is not ER7", event.ReasonNotHL7v2, ""},
	{mapping.FormatHL7v2, "MSH|^~\\&|SCHED|GENHOSP|RCV|GENHOSP|20260306120000||SIU^S12^SIU_S12|X-1|P|2.5.1\rSCH|PL-1|APT-1|||||||30|min|^^30^20260320093000||||||||||||||Booked\r", "", mapping.SkipNoReferralLink},
	{mapping.FormatHL7v2, "MSH|^~\\&|REFAPP|MG-001|RCV|GENHOSP|20260302140500||REF^I12^REF_I12|X-2|P|2.5.1\rRF1|P|R|NOSUCHLINE||O|R-X-2|20260302140000\rPRD|RP|DOC^A|||||1234567893^NPI|||^^^^^^^^^MG-001\rPRD|RT|T||site-01^^^GENHOSP\r", event.ReasonUnmappedCode, ""},
	{mapping.FormatFHIR, "{not json", event.ReasonNotFHIR, ""},
	{mapping.FormatFHIR, `{"resourceType":"Patient","id":"p1","name":[{"family":"QUILL"}]}`, "", mapping.SkipUnsupportedType},
}

// TestIngestStandardTopics: with --site-config the ingester consumes the
// HL7 v2 and FHIR topics beside the CloudEvents ones in one group: every
// generated feed message is stored as the events it maps to, the invalid
// ones and the malformed or unmapped standard messages are dead-lettered
// (raw, with their reason), the messages without referral work are skipped
// and counted by format and reason, and every partition is committed.
func TestIngestStandardTopics(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	brokers := testenv.KafkaBrokers(t)
	kc := testenv.Topics(t, brokers)
	if err := testenv.CreateTopics(context.Background(), brokers, kc.Topics.HL7v2, kc.Topics.FHIR); err != nil {
		t.Fatal(err)
	}
	ch := testenv.ClickHouse(t)
	site, err := mapping.LoadConfig(filepath.Join("..", "docs", "examples", "site-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	mapper, err := mapping.New(site, []byte(tokenKey))
	if err != nil {
		t.Fatal(err)
	}

	cfg := generator.DefaultConfig()
	cfg.Seed, cfg.Referrals, cfg.Days = 5, 400, 30
	cfg.End = time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	cfg.DuplicateRatio, cfg.InvalidRatio, cfg.Shuffle, cfg.BinaryRatio = 0.05, 0.01, true, 0.1
	cfg.MaxMessageBytes = maxMessageBytes
	wantIDs := map[string]bool{}
	wantDead := map[deadLetterKey]int{}
	ctx := context.Background()
	p, err := broker.NewProducer(kc, 2000)
	if err != nil {
		t.Fatal(err)
	}
	// Half of the referrals' feed is HL7 v2, half FHIR, one topic each, as two
	// interfaces of one site would send them.
	feeds := map[mapping.Format]*sitefeed.Feed{mapping.FormatHL7v2: sitefeed.New(mapping.FormatHL7v2), mapping.FormatFHIR: sitefeed.New(mapping.FormatFHIR)}
	topicOf := map[mapping.Format]string{mapping.FormatHL7v2: kc.Topics.HL7v2, mapping.FormatFHIR: kc.Topics.FHIR}
	standard := map[mapping.Format]int{}
	if _, err := generator.Generate(ctx, cfg, func(m generator.Message) error {
		f := mapping.FormatHL7v2
		if sum := sha256.Sum256(m.Key); sum[0]&1 == 1 {
			f = mapping.FormatFHIR
		}
		r := feeds[f].Convert(m)
		if !r.Standard {
			if m.Invalid != "" {
				wantDead[deadLetterKey{kc.Topics.For(m.Stream), string(m.Invalid), sha256.Sum256(m.Value)}]++
			} else {
				wantIDs[m.EventID] = true
			}
			return p.Send(ctx, kc.Topics.For(m.Stream), m.Key, m.Value, broker.Headers(m.Headers))
		}
		o := mapper.Map(f, r.Value)
		if o.Err != nil || len(o.Events) == 0 {
			t.Fatalf("generated %s message does not map: %s", f, o.Line())
		}
		for _, e := range o.Events {
			wantIDs[e.ID] = true
		}
		standard[f]++
		return p.Send(ctx, topicOf[f], r.Key, r.Value, broker.Headers(r.Headers))
	}); err != nil {
		t.Fatal(err)
	}
	for _, x := range standardExtras {
		if err := p.Send(ctx, topicOf[x.format], nil, []byte(x.value), nil); err != nil {
			t.Fatal(err)
		}
		if x.dead != "" {
			wantDead[deadLetterKey{topicOf[x.format], string(x.dead), sha256.Sum256([]byte(x.value))}]++
		}
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if standard[mapping.FormatHL7v2] < 100 || standard[mapping.FormatFHIR] < 100 {
		t.Fatalf("too few standard messages: %v", standard)
	}

	t.Setenv(mapping.KeyEnv, tokenKey) // the ingester inherits it
	group := testenv.UniqueName("g")
	ing, base := ingester(t, kc, ch.DSN, group, "--topic-hl7v2", kc.Topics.HL7v2, "--topic-fhir", kc.Topics.FHIR,
		"--site-config", filepath.Join("..", "docs", "examples", "site-config.yaml"))
	testenv.WaitCommittedTopics(t, kc, group, 3*time.Minute, append(kc.Topics.Inputs(), kc.Topics.HL7v2, kc.Topics.FHIR)...)
	checkStored(t, ch, wantIDs)
	checkDeadLetters(t, kc, wantDead) // raw values, byte for byte, with their reasons

	metrics := testenv.Scrape(t, base+"/metrics")
	for _, x := range standardExtras {
		if x.skip != "" {
			if n := metrics.Value(t, "referralops_ingest_skipped_total", "format", string(x.format), "reason", string(x.skip)); n != 1 {
				t.Errorf("referralops_ingest_skipped_total{format=%q,reason=%q} = %v, want 1", x.format, x.skip, n)
			}
		}
	}
	for _, f := range []string{"cloudevents", "hl7v2", "fhir"} {
		if n := metrics.Value(t, "referralops_ingest_events_total", "format", f); n == 0 {
			t.Errorf("referralops_ingest_events_total{format=%q} = 0", f)
		}
	}
	if n := metrics.Value(t, "referralops_ingest_records_total", "topic", kc.Topics.HL7v2, "outcome", "skipped"); n != 1 {
		t.Errorf("skipped records of the HL7 v2 topic = %v, want 1", n)
	}
	if code := ing.Stop(30 * time.Second); code != 0 {
		t.Errorf("ingest exited %d after SIGTERM, want 0", code)
	}
	for _, phi := range []string{"QUILL", "MRN"} {
		if strings.Contains(ing.Output(), phi) {
			t.Errorf("%q in the ingester's log", phi)
		}
	}
}
