package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/ingest"
	"github.com/referralops/referralops/ingest/dlq"
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/testenv"
)

// TestDLQReplay dead-letters events of a service line the ingester does not
// know yet, lists them without their values, and replays them once the
// ingester accepts the service line: exactly the replayed events are stored,
// once, and a dry run or a second replay produces nothing.
func TestDLQReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	kc := testenv.Topics(t, testenv.KafkaBrokers(t))
	ch := testenv.ClickHouse(t)

	// Every fifth message naming a service line names sleep_medicine instead,
	// which the ingester refuses as invalid_field until it is configured.
	cfg := generator.DefaultConfig()
	cfg.Seed, cfg.Referrals, cfg.Days = 7, 300, 30
	cfg.End = time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	cfg.DuplicateRatio, cfg.InvalidRatio = 0, 0
	serviceLine := regexp.MustCompile(`"service_line":"[a-z_]+"`)
	valid, sleep := map[string]bool{}, map[string]bool{}
	var keys [][]byte
	binary := 0
	p, err := broker.NewProducer(kc, 1000)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	named := 0
	_, err = generator.Generate(ctx, cfg, func(m generator.Message) error {
		valid[m.EventID] = true
		if serviceLine.Match(m.Value) {
			if named++; named%5 == 0 {
				m.Value = serviceLine.ReplaceAll(m.Value, []byte(`"service_line":"sleep_medicine"`))
				sleep[m.EventID] = true
				keys = append(keys, m.Key)
				if len(m.Headers) > 0 {
					binary++
				}
			}
		}
		return p.Send(ctx, kc.Topics.For(m.Stream), m.Key, m.Value, broker.Headers(m.Headers))
	})
	if err == nil {
		err = p.Close(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(sleep) < 20 || binary == 0 {
		t.Fatalf("dataset has %d sleep_medicine events, %d in binary mode; want >= 20 and some", len(sleep), binary)
	}
	stored := map[string]bool{}
	for id := range valid {
		if !sleep[id] {
			stored[id] = true
		}
	}

	group := testenv.UniqueName("g")
	proc, _ := ingester(t, kc, ch.DSN, group)
	testenv.WaitCommitted(t, kc, group, 3*time.Minute)
	checkStored(t, ch, stored)

	// Dead letters the ingester cuts or leaves as stubs (values too large
	// for the dead-letter topic) cannot be replayed.
	w, err := broker.NewWriter(kc, kc.Topics.DeadLetters)
	if err != nil {
		t.Fatal(err)
	}
	deadLetter := func(value []byte, extra ...kafka.Header) kafka.Message {
		return kafka.Message{Key: []byte("stub-key"), Value: value, Headers: append([]kafka.Header{
			{Key: ingest.HeaderReason, Value: []byte("invalid_field")},
			{Key: ingest.HeaderError, Value: []byte("invalid_field: data.service_line: not one of the service lines")},
			{Key: ingest.HeaderTopic, Value: []byte(kc.Topics.Referrals)},
			{Key: ingest.HeaderPartition, Value: []byte("0")},
			{Key: ingest.HeaderOffset, Value: []byte("0")},
		}, extra...)}
	}
	err = w.WriteMessages(ctx,
		deadLetter([]byte(`{"specversion":"1.0","id":"cut`), kafka.Header{Key: ingest.HeaderTruncated, Value: []byte("2000000")}),
		deadLetter(nil))
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	const notReplayable = 2

	// dlq list: every dead letter of the reason, sizes and errors, no values.
	out, stderr := dlqRun(t, kc, 0, "list", "--reason", "invalid_field")
	lines := strings.Count(out, "reason=invalid_field ")
	notLines := strings.Count(out, `replayable="no (`)
	if lines != len(sleep)+notReplayable || notLines != notReplayable || !strings.Contains(out, "data.service_line") {
		t.Fatalf("dlq list shows %d invalid_field dead letters, %d not replayable; want %d and %d:\n%s%s", lines, notLines, len(sleep)+notReplayable, notReplayable, out, stderr)
	}
	if !regexp.MustCompile(`(?m)^invalid_field\s+` + strconv.Itoa(len(sleep)+notReplayable) + `\s+` + strconv.Itoa(len(sleep)) + `\s+2$`).MatchString(out) {
		t.Fatalf("dlq list has no summary line for invalid_field:\n%s", out)
	}
	for id := range sleep {
		if strings.Contains(out, id) {
			t.Fatalf("dlq list shows the event id %s", id)
		}
	}
	for _, k := range keys {
		if strings.Contains(out, string(k)) {
			t.Fatalf("dlq list shows the key %s", k)
		}
	}
	if strings.Contains(out, "stub-key") || strings.Contains(out, `"specversion"`) {
		t.Fatalf("dlq list shows a key or a value:\n%s", out)
	}
	out, _ = dlqRun(t, kc, 0, "list", "--format", "json", "--since", "1h")
	var listed struct {
		DeadLetters []dlq.Letter `json:"dead_letters"`
		Summary     []struct {
			Reason        string `json:"reason"`
			DeadLetters   int    `json:"dead_letters"`
			Replayable    int    `json:"replayable"`
			NotReplayable int    `json:"not_replayable"`
		} `json:"summary"`
	}
	if err := json.Unmarshal([]byte(out), &listed); err != nil {
		t.Fatalf("dlq list --format json: %v\n%s", err, out)
	}
	if len(listed.DeadLetters) != len(sleep)+notReplayable || len(listed.Summary) != 1 || listed.Summary[0].Replayable != len(sleep) || listed.Summary[0].NotReplayable != notReplayable {
		t.Fatalf("dlq list --format json: %d dead letters, summary %+v; want %d, all invalid_field", len(listed.DeadLetters), listed.Summary, len(sleep)+notReplayable)
	}
	if out, _ := dlqRun(t, kc, 0, "list", "--reason", "bad_time"); strings.Contains(out, "reason=") {
		t.Fatalf("dlq list --reason bad_time lists others:\n%s", out)
	}

	// A dry run counts and produces nothing.
	before := endOffsets(t, kc)
	_, stderr = dlqRun(t, kc, 0, "replay", "--reason", "invalid_field", "--group", group, "--dry-run")
	if want := "would replay (dry run) " + strconv.Itoa(len(sleep)) + ", not replayable 2"; !strings.Contains(stderr, want) {
		t.Fatalf("dry run: stderr lacks %q:\n%s", want, stderr)
	}
	if after := endOffsets(t, kc); after != before {
		t.Fatalf("dry run produced %d records", after-before)
	}

	// After the fix, a replay stores exactly the dead-lettered events.
	if code := proc.Stop(time.Minute); code != 0 {
		t.Fatalf("ingester exited %d", code)
	}
	ingester(t, kc, ch.DSN, group, "--service-lines-extra", "sleep_medicine")
	_, stderr = dlqRun(t, kc, 0, "replay", "--reason", "invalid_field", "--group", group)
	if want := "replayed " + strconv.Itoa(len(sleep)) + ", not replayable 2"; !strings.Contains(stderr, want) {
		t.Fatalf("replay: stderr lacks %q:\n%s", want, stderr)
	}
	if after := endOffsets(t, kc); after != before+int64(len(sleep)) {
		t.Fatalf("replay produced %d records, want %d", after-before, len(sleep))
	}
	testenv.WaitCommitted(t, kc, group, 3*time.Minute)
	checkStored(t, ch, valid)

	// A second replay re-produces nothing.
	_, stderr = dlqRun(t, kc, 0, "replay", "--reason", "invalid_field", "--group", group)
	if !strings.Contains(stderr, "replayed 0, not replayable 0") {
		t.Fatalf("second replay: stderr:\n%s", stderr)
	}
	if after := endOffsets(t, kc); after != before+int64(len(sleep)) {
		t.Fatalf("second replay produced %d records", after-before-int64(len(sleep)))
	}
	testenv.WaitCommitted(t, kc, group, 3*time.Minute)
	checkStored(t, ch, valid)

	// Bad flags exit 2; a dead letter from a topic that is not an input, or
	// a missing dead-letter topic, exit 1.
	dlqRun(t, kc, 2, "replay", "--group", group)
	dlqRun(t, kc, 2, "list", "--reason", "astrology")
	dlqRun(t, kc, 2, "replay", "--reason", "bad_time", "--since", "2999-01-01T00:00:00Z")
	if w, err = broker.NewWriter(kc, kc.Topics.DeadLetters); err != nil {
		t.Fatal(err)
	}
	foreign := deadLetter([]byte(`{}`))
	foreign.Headers[0].Value = []byte("bad_time")
	foreign.Headers[2].Value = []byte("another-topic")
	err = w.WriteMessages(ctx, foreign)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, stderr := dlqRun(t, kc, 1, "replay", "--reason", "bad_time", "--group", group); !strings.Contains(stderr, `comes from topic \"another-topic\", not one of the input topics`) {
		t.Fatalf("replay of a dead letter from another topic: stderr:\n%s", stderr)
	}
	missing := kc
	missing.Topics.DeadLetters = testenv.UniqueName("missing-")
	dlqRun(t, missing, 1, "list")
}

// dlqRun runs `referralops dlq args...` on kc's topics to its end, fails the
// test unless it exits with code, and returns its stdout and stderr.
func dlqRun(t *testing.T, kc broker.Config, code int, args ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args = append([]string{"dlq", args[0],
		"--kafka-brokers", kc.Brokers.String(),
		"--topic-referrals", kc.Topics.Referrals,
		"--topic-scheduling", kc.Topics.Scheduling,
		"--topic-communications", kc.Topics.Communications,
		"--topic-dlq", kc.Topics.DeadLetters,
		"--log-format", "json",
	}, args[1:]...)
	cmd := exec.CommandContext(ctx, testenv.Binary(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	got := 0
	if errors.As(err, &exit) {
		got = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if got != code {
		t.Fatalf("referralops %v exited %d, want %d:\n%s%s", args, got, code, stdout.String(), stderr.String())
	}
	return stdout.String(), stderr.String()
}

// endOffsets sums the end offsets of kc's input topics: how many records were
// ever produced to them.
func endOffsets(t *testing.T, kc broker.Config) int64 {
	t.Helper()
	ends, err := broker.EndOffsets(context.Background(), kc, kc.Topics.Inputs()...)
	if err != nil {
		t.Fatal(err)
	}
	return broker.TotalLag(ends)
}
