package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/referralops/referralops/dashboards/rules"
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/schema"
)

// TestSecurityTLSEndpoints runs ingest and export against ClickHouse 18.16's
// secure native port (a server of the test's own that requires a client
// certificate), serving their endpoints over TLS with basic auth, scraped by
// a real Prometheus; without credentials they answer 401, and /debug/pprof/
// is not there.
func TestSecurityTLSEndpoints(t *testing.T) {
	ca := testenv.NewCA(t, "referralops-test")
	chServer := testenv.StartClickHouseTLSServer(t, ca, true)
	db := chServer.Database(t) // migrated over the plain port
	client := ca.Issue(t, "referralops-client")
	chTLS := []string{"--clickhouse-dsn", "clickhouse://" + chServer.SecureAddr + "/" + db.Database,
		"--clickhouse-tls", "--clickhouse-tls-ca-file", ca.CertFile,
		"--clickhouse-tls-cert-file", client.CertFile, "--clickhouse-tls-key-file", client.KeyFile}

	// The server requires a client certificate: TLS without one is refused.
	noCert := clickhouse.DefaultConfig()
	noCert.DSN = "clickhouse://" + chServer.SecureAddr + "/" + db.Database
	noCert.TLS = clickhouse.TLSConfig{Enabled: true, CAFile: ca.CertFile}
	if conn, err := clickhouse.Open(context.Background(), noCert); err == nil {
		conn.Close()
		t.Fatal("ClickHouse accepted a TLS client without a certificate")
	}

	const user, password = "prometheus", "scrape-secret-4f1d"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	serving := ca.Issue(t, "referralops-web")
	webConfig := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(webConfig, fmt.Appendf(nil, "tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  %s: %s\n",
		serving.CertFile, serving.KeyFile, user, hash), 0o600); err != nil {
		t.Fatal(err)
	}

	// Events into Kafka (the shared broker), ingested over TLS.
	kc := testenv.Topics(t, testenv.KafkaBrokers(t))
	gen := generator.DefaultConfig()
	gen.Seed, gen.Referrals, gen.Days, gen.InvalidRatio = 3, 200, 30, 0
	gen.End = time.Now().UTC().Truncate(24 * time.Hour)
	events := testenv.GenerateEvents(t, gen)
	produce(t, kc, gen)
	ingestAddr, exportAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	group := testenv.UniqueName("security-tls-")
	ingest := testenv.Start(t, nil, append([]string{"ingest", "--kafka-brokers", kc.Brokers.String(),
		"--topic-referrals", kc.Topics.Referrals, "--topic-scheduling", kc.Topics.Scheduling,
		"--topic-communications", kc.Topics.Communications, "--topic-dlq", kc.Topics.DeadLetters,
		"--group", group, "--listen", ingestAddr, "--batch-max-age", "200ms", "--log-format", "json",
		"--web.config.file", webConfig}, chTLS...)...)
	testenv.WaitCommitted(t, kc, group, 2*time.Minute)
	var stored uint64
	if err := db.Conn.QueryRow(context.Background(), "SELECT uniqExact(event_id) FROM "+schema.EventsTable(db.Database)).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, e := range events {
		ids[e.ID] = true
	}
	if stored != uint64(len(ids)) {
		t.Fatalf("%d distinct events stored over TLS, want %d", stored, len(ids))
	}

	export := testenv.Start(t, nil, append([]string{"export", "--listen", exportAddr, "--refresh-interval", "2s",
		"--log-format", "json", "--web.config.file", webConfig}, chTLS...)...)

	https := httpsClient(t, ca.CertFile)
	for _, p := range []struct {
		proc *testenv.Process
		addr string
	}{{ingest, ingestAddr}, {export, exportAddr}} {
		base := "https://" + p.addr
		testenv.Eventually(t, 90*time.Second, func() bool {
			return status(https, base+"/readyz", user, password) == http.StatusOK || p.proc.Exited()
		}, func() string { return base + " is not ready:\n" + p.proc.Output() })
		if p.proc.Exited() {
			t.Fatalf("%s exited:\n%s", base, p.proc.Output())
		}
		for _, c := range []struct {
			path, user, password string
			want                 int
		}{
			{"/metrics", "", "", http.StatusUnauthorized},
			{"/readyz", "", "", http.StatusUnauthorized},
			{"/metrics", user, "wrong", http.StatusUnauthorized},
			{"/metrics", user, password, http.StatusOK},
			{"/debug/pprof/", user, password, http.StatusNotFound},
		} {
			if got := status(https, base+c.path, c.user, c.password); got != c.want {
				t.Errorf("GET %s%s as %q: %d, want %d", base, c.path, c.user, got, c.want)
			}
		}
		if got := testenv.HTTPStatus("http://" + p.addr + "/metrics"); got == http.StatusOK {
			t.Errorf("plain HTTP on %s answers 200", p.addr)
		}
	}

	prom := testenv.StartPrometheus(t, testenv.PrometheusConfig{
		Jobs:   map[string][]string{rules.JobIngest: {ingestAddr}, rules.JobExport: {exportAddr}},
		Scrape: &testenv.ScrapeSecurity{CAFile: ca.CertFile, Username: user, Password: password},
	})
	prom.WaitTargetsUp(t, time.Minute)
	for _, q := range []string{
		`sum(referralops_ingest_records_total{job="` + rules.JobIngest + `"})`,
		`count(referral_referrals{job="` + rules.JobExport + `"})`,
	} {
		testenv.Eventually(t, time.Minute, func() bool {
			s, err := prom.Query(context.Background(), q)
			return err == nil && len(s) == 1 && s[0].Value > 0
		}, func() string { return q + " has no positive value in Prometheus" })
	}
	for _, out := range []string{ingest.Output(), export.Output(), prom.Output()} {
		if strings.Contains(out, password) {
			t.Fatalf("the scrape password appears in a log:\n%s", out)
		}
	}
}

func produce(t *testing.T, kc broker.Config, gen generator.Config) {
	t.Helper()
	ctx := context.Background()
	p, err := broker.NewProducer(kc, 2000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := generator.Generate(ctx, gen, func(m generator.Message) error {
		return p.Send(ctx, kc.Topics.For(m.Stream), m.Key, m.Value, broker.Headers(m.Headers))
	}); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func httpsClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
}

// status is the status code of GET url, with basic auth when user is set; 0
// when it does not answer.
func status(c *http.Client, url, user, password string) int {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
