package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/schema"
)

// TestThreeFormatsSameKPIs: one seed generated as CloudEvents, as an HL7 v2
// feed (sent through the MLLP receiver) and as a FHIR feed (each with the CloudEvents its format does not
// carry beside it, duplicates and invalid messages), each produced to its own
// topics on the real Kafka and ingested into its own database on the real
// ClickHouse, gives byte-identical `referralops kpi --format json` at several
// as-of times, referrer_attention.by_referrer_type included: the ingester
// reads the site config generate writes (the example's tables and the
// network's provider directory), which types each referral's referrer per
// provider, as the simulation does. The stored consult notes by recipient
// (referrer, pcp, other) are equal too.
func TestThreeFormatsSameKPIs(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	brokers := testenv.KafkaBrokers(t)
	t.Setenv("REFERRALOPS_PATIENT_TOKEN_KEY", convertKey)
	asOfs := []string{"2026-03-12T00:00:00Z", "2026-03-24T13:37:00Z", "2026-04-01T00:00:00Z"}
	kpis := map[string][]string{}
	recipients := map[string]string{} // format → the consult notes by recipient
	for _, format := range []string{"cloudevents", "hl7v2", "fhir"} {
		kc := testenv.Topics(t, brokers)
		if err := testenv.CreateTopics(context.Background(), brokers, kc.Topics.HL7v2, kc.Topics.FHIR); err != nil {
			t.Fatal(err)
		}
		topicFlags := []string{"--kafka-brokers", kc.Brokers.String(),
			"--topic-referrals", kc.Topics.Referrals, "--topic-scheduling", kc.Topics.Scheduling,
			"--topic-communications", kc.Topics.Communications, "--topic-dlq", kc.Topics.DeadLetters,
			"--topic-hl7v2", kc.Topics.HL7v2, "--topic-fhir", kc.Topics.FHIR}
		genFlags := topicFlags
		sender := kc.Topics.HL7v2 + "-sender"
		if format == "hl7v2" {
			// The HL7 v2 feed goes to a topic of its own, from which a test
			// interface engine sends it through the MLLP receiver.
			if err := testenv.CreateTopics(context.Background(), brokers, sender); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
				_, _ = client.DeleteTopics(context.Background(), &kafka.DeleteTopicsRequest{Topics: []string{sender}})
			})
			genFlags = append(slices.Clone(topicFlags), "--topic-hl7v2", sender) // the last flag wins
		}
		site := filepath.Join(t.TempDir(), "site.yaml")
		gen := exec.Command(testenv.Binary(t), append([]string{"generate", "--format", format, "--seed", "21",
			"--site-config", exampleSite, "--site-config-out", site,
			"--referrals", "800", "--days", "30", "--end", "2026-03-31",
			"--duplicate-ratio", "0.05", "--invalid-ratio", "0.01", "--shuffle"}, genFlags...)...)
		if out, err := gen.CombinedOutput(); err != nil {
			t.Fatalf("generate --format %s: %v\n%s", format, err, out)
		}
		if format == "hl7v2" {
			sendThroughMLLP(t, kc, sender)
		}

		ch := testenv.ClickHouse(t)
		group := testenv.UniqueName("g")
		args := append([]string{"ingest", "--group", group, "--listen", testenv.FreeAddr(t), "--batch-max-age", "200ms",
			"--site-config", site}, topicFlags...)
		p := testenv.Start(t, []string{"REFERRALOPS_CLICKHOUSE_DSN=" + ch.DSN}, args...)
		testenv.WaitCommittedTopics(t, kc, group, 3*time.Minute, append(kc.Topics.Inputs(), kc.Topics.HL7v2, kc.Topics.FHIR)...)
		if code := p.Stop(30 * time.Second); code != 0 {
			t.Fatalf("ingest (%s) exited %d:\n%s", format, code, p.Output())
		}
		recipients[format] = noteRecipients(t, ch)
		for _, asOf := range asOfs {
			out, err := exec.Command(testenv.Binary(t), "kpi", "--clickhouse-dsn", ch.DSN, "--as-of", asOf, "--format", "json").Output()
			if err != nil {
				t.Fatalf("kpi (%s) as of %s: %v", format, asOf, err)
			}
			kpis[format] = append(kpis[format], string(out))
		}
	}
	for i, asOf := range asOfs {
		want := kpis["cloudevents"][i]
		var windows []struct {
			Totals            struct{ Referrals, Completed int64 }
			ReferrerAttention struct {
				ByReferrerType map[string]json.RawMessage `json:"by_referrer_type"`
			} `json:"referrer_attention"`
		}
		if err := json.Unmarshal([]byte(want), &windows); err != nil || len(windows) == 0 {
			t.Fatalf("kpi output as of %s: %v", asOf, err)
		}
		if tot := windows[0].Totals; tot.Referrals == 0 || tot.Completed == 0 {
			t.Fatalf("kpi as of %s counts nothing to compare: %+v", asOf, tot)
		}
		if by := windows[0].ReferrerAttention.ByReferrerType; len(by) < 3 {
			t.Fatalf("kpi as of %s: referrer attention by type has %d types, too few to compare", asOf, len(by))
		}
		for _, format := range []string{"hl7v2", "fhir"} {
			if got := kpis[format][i]; got != want {
				t.Errorf("kpi as of %s: %s differs from cloudevents:\n%s", asOf, format, firstDiff(got, want))
			}
		}
	}
	if want := recipients["cloudevents"]; strings.Count(want, "=") != 3 {
		t.Errorf("the consult notes went to %s: not every recipient to compare", want)
	}
	for _, format := range []string{"hl7v2", "fhir"} {
		if got, want := recipients[format], recipients["cloudevents"]; got != want {
			t.Errorf("consult notes by recipient: %s %s, cloudevents %s", format, got, want)
		}
	}
}

// noteRecipients counts the stored consult notes by recipient (the
// contract's default filled in), each note once however often it was
// delivered: "other=n pcp=n referrer=n". The loop-closing KPI counts only
// the referrer's, so the formats must agree on every note's recipient.
func noteRecipients(t *testing.T, ch *testenv.ClickHouseDB) string {
	t.Helper()
	rows, err := ch.Conn.Query(context.Background(), "SELECT if(recipient = '', 'referrer', recipient) AS r, toUInt64(uniqExact(referral_id, event_time)) FROM "+
		schema.EventsTable(ch.Database)+" WHERE event_type = 'communication.consult_note_sent' GROUP BY r ORDER BY r")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		var n uint64
		if err := rows.Scan(&r, &n); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s=%d", r, n))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, " ")
}

// sendThroughMLLP runs `referralops mllp` into kc's HL7 v2 topic and sends it
// every message of topic over one MLLP connection, as an interface engine
// would, each only after the previous one was answered AA.
func sendThroughMLLP(t *testing.T, kc broker.Config, topic string) {
	t.Helper()
	ends, err := broker.EndOffsets(context.Background(), kc, topic)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, n := range ends[topic] {
		total += n
	}
	addr, httpAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	p := testenv.Start(t, nil, "mllp", "--listen", addr, "--http-listen", httpAddr,
		"--kafka-brokers", kc.Brokers.String(), "--topic-hl7v2", kc.Topics.HL7v2)
	testenv.WaitReady(t, p, "http://"+httpAddr, "MLLP receiver")
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	acks := bufio.NewReader(conn)
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: kc.Brokers, Topic: topic, GroupID: testenv.UniqueName("engine-"),
		StartOffset: kafka.FirstOffset, MaxWait: 200 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for i := int64(0); i < total; i++ {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read the feed after %d of %d messages: %v", i, total, err)
		}
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := conn.Write(append(append([]byte{0x0b}, m.Value...), 0x1c, '\r')); err != nil {
			t.Fatal(err)
		}
		ack, err := acks.ReadString(0x1c)
		if err == nil {
			_, err = acks.ReadByte() // the frame's closing \r
		}
		if err != nil || !strings.Contains(ack, "\rMSA|AA|") {
			t.Fatalf("message %d: ACK %q, %v\n%s", i, ack, err, p.Output())
		}
	}
	if code := p.Stop(30 * time.Second); code != 0 {
		t.Fatalf("mllp exited %d:\n%s", code, p.Output())
	}
}

// firstDiff shows the first differing lines of two outputs, each after the
// lines that name its place in the JSON.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var b strings.Builder
	shown := 0
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] && shown < 8 {
			shown++
			b.WriteString("line " + strconv.Itoa(i+1) + " after " + strings.Join(w[max(0, i-3):i], " ") + ":\n got " + g[i] + "\nwant " + w[i] + "\n")
		}
	}
	if len(g) != len(w) {
		b.WriteString("lengths differ: " + strconv.Itoa(len(g)) + " and " + strconv.Itoa(len(w)) + " lines")
	}
	return b.String()
}
