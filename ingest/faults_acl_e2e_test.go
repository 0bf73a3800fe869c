package ingest_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/schema"
)

// TestFaultKafkaReadNotAuthorized runs the ingester as a SCRAM user of a
// Kafka broker of the test's own that enforces ACLs: the user may describe
// the input topics, join its group and write dead letters, but not READ the
// referrals topic, so the broker refuses its fetches
// (TOPIC_AUTHORIZATION_FAILED). The ingester is not ready, names the grant in
// /readyz and the log, stores and commits nothing; once READ is granted,
// everything flows.
func TestFaultKafkaReadNotAuthorized(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const user, password = "ingester", "pw-3f9a61c2-never-logged"
	k := testenv.StartKafka(t, testenv.KafkaOptions{Secure: true, Users: map[string]string{user: password}, Authorizer: true})
	kc := testenv.Topics(t, []string{k.Plain}) // administered over the plaintext listener, as a super user
	ch := testenv.ClickHouse(t)
	passwordFile := filepath.Join(t.TempDir(), "password")
	write(t, passwordFile, password)

	group := testenv.UniqueName("g")
	denied := kc.Topics.Referrals
	for _, topic := range kc.Topics.Inputs() {
		k.Allow(t, user, kafka.ACLOperationTypeDescribe, kafka.ResourceTypeTopic, topic)
		if topic != denied {
			k.Allow(t, user, kafka.ACLOperationTypeRead, kafka.ResourceTypeTopic, topic)
		}
	}
	k.Allow(t, user, kafka.ACLOperationTypeWrite, kafka.ResourceTypeTopic, kc.Topics.DeadLetters)
	k.Allow(t, user, kafka.ACLOperationTypeRead, kafka.ResourceTypeGroup, group)

	// Records on the denied topic only: whatever is stored came through it.
	all := smallDataset(t, 100)
	d := &dataset{cfg: all.cfg, validIDs: map[string]bool{}}
	for _, m := range all.messages {
		if kc.Topics.For(m.Stream) == denied {
			d.messages = append(d.messages, m)
			d.validIDs[m.EventID] = true
		}
	}
	if len(d.messages) == 0 {
		t.Fatalf("no generated message for %s", denied)
	}
	d.produce(t, kc, nil)

	in, base := ingester(t, kc, ch.DSN, group, "--kafka-brokers", k.SASLSSL, "--kafka-tls", "--kafka-tls-ca-file", k.CA.CertFile,
		"--kafka-sasl-mechanism", "scram-sha-512", "--kafka-sasl-username", user, "--kafka-sasl-password-file", passwordFile)
	waitRefused(t, in, base, "READ on topic "+denied)
	if !strings.Contains(in.Output(), `"class":"access denied"`) {
		t.Errorf("the log does not classify the refusal as access denied:\n%s", in.Output())
	}
	checkNothingCommitted(t, kc, group, len(d.messages))
	var stored uint64
	if err := ch.Conn.QueryRow(context.Background(), "SELECT count() FROM "+schema.EventsTable(ch.Database)).Scan(&stored); err != nil || stored != 0 {
		t.Errorf("stored %d events while READ is denied (%v), want none", stored, err)
	}

	// The operator's fix.
	k.Allow(t, user, kafka.ACLOperationTypeRead, kafka.ResourceTypeTopic, denied)
	testenv.WaitCommitted(t, kc, group, 2*time.Minute)
	checkStored(t, ch, d.validIDs)
	waitReady(t, base)
	if strings.Contains(in.Output(), password) {
		t.Errorf("the SASL password appears in the output:\n%s", in.Output())
	}
}
