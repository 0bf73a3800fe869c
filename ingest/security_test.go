package ingest_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/testenv"
)

// TestSecurityKafka runs generate and ingest against a real Kafka 4.1 broker
// over SASL_SSL with SCRAM-SHA-512 and over mutual TLS, and checks that a wrong
// password and an untrusted CA stop each command at start, naming the
// setting, without the password anywhere in their output. One broker serves
// every case.
func TestSecurityKafka(t *testing.T) {
	const user, password = "referralops", "pw-7c1e9f2a-never-logged"
	k := testenv.StartKafka(t, testenv.KafkaOptions{Secure: true, Users: map[string]string{user: password}})
	dir := t.TempDir()
	passwordFile := filepath.Join(dir, "password")
	wrongFile := filepath.Join(dir, "wrong")
	write(t, passwordFile, password+"\n")
	write(t, wrongFile, "not-"+password)
	client := k.CA.Issue(t, "referralops-client")
	strangers := testenv.NewCA(t, "not-the-brokers-ca")

	scram := []string{"--kafka-brokers", k.SASLSSL, "--kafka-tls", "--kafka-tls-ca-file", k.CA.CertFile,
		"--kafka-sasl-mechanism", "scram-sha-512", "--kafka-sasl-username", user, "--kafka-sasl-password-file", passwordFile}
	mtls := []string{"--kafka-brokers", k.MTLS, "--kafka-tls", "--kafka-tls-ca-file", k.CA.CertFile,
		"--kafka-tls-cert-file", client.CertFile, "--kafka-tls-key-file", client.KeyFile}

	for _, tc := range []struct {
		name string
		args []string
	}{{"scram-sha-512", scram}, {"mtls", mtls}} {
		t.Run(tc.name, func(t *testing.T) {
			kc := testenv.Topics(t, []string{k.Plain}) // administered over the plaintext listener
			ch := testenv.ClickHouse(t)
			gen := generator.DefaultConfig()
			gen.Seed, gen.Referrals, gen.Days = 5, 300, 30
			gen.End = time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
			gen.DuplicateRatio, gen.InvalidRatio = 0.02, 0
			want := map[string]bool{}
			for _, e := range testenv.GenerateEvents(t, gen) {
				want[e.ID] = true
			}
			out := runCommand(t, 0, append(append([]string{"generate"}, topicArgs(kc)...), append(tc.args,
				"--seed", strconv.FormatInt(gen.Seed, 10), "--referrals", strconv.Itoa(gen.Referrals),
				"--days", strconv.Itoa(gen.Days), "--end", gen.End.Format(time.DateOnly),
				"--duplicate-ratio", "0.02", "--invalid-ratio", "0", "--log-format", "json")...)...)
			group := testenv.UniqueName("security-")
			p, _ := ingester(t, kc, ch.DSN, group, tc.args...)
			testenv.WaitCommitted(t, kc, group, 2*time.Minute)
			checkStored(t, ch, want)
			if code := p.Stop(30 * time.Second); code != 0 {
				t.Fatalf("ingest exited %d:\n%s", code, p.Output())
			}
			for _, log := range []string{out, p.Output()} {
				if strings.Contains(log, password) {
					t.Fatalf("the SASL password appears in the output:\n%s", log)
				}
			}
		})
	}

	kc := testenv.Topics(t, []string{k.Plain})
	for _, tc := range []struct {
		name    string
		args    []string
		setting string
	}{
		{"wrong password", replace(scram, passwordFile, wrongFile), "kafka-sasl-password-file"},
		{"untrusted CA", replace(mtls, k.CA.CertFile, strangers.CertFile), "kafka-tls-ca-file"},
		{"no client certificate", without(without(mtls, "--kafka-tls-cert-file"), "--kafka-tls-key-file"), "kafka-tls-cert-file"},
	} {
		for _, command := range []string{"generate", "ingest"} {
			t.Run(tc.name+"/"+command, func(t *testing.T) {
				args := append(append([]string{command}, topicArgs(kc)...), tc.args...)
				if command == "ingest" {
					args = append(args, "--clickhouse-dsn", testenv.ClickHouse(t).DSN, "--listen", testenv.FreeAddr(t))
				} else {
					args = append(args, "--referrals", "10")
				}
				out := runCommand(t, 1, append(args, "--log-format", "json")...)
				if !strings.Contains(out, tc.setting) || !strings.Contains(out, broker.ErrRejected.Error()) {
					t.Fatalf("the failure does not name %s:\n%s", tc.setting, out)
				}
				if strings.Contains(out, password) || strings.Contains(out, "not-"+password) {
					t.Fatalf("a password appears in the output:\n%s", out)
				}
			})
		}
	}

	// The same credentials from the environment variable instead of the file.
	t.Run("password from environment", func(t *testing.T) {
		kc := testenv.Topics(t, []string{k.Plain})
		args := append(append([]string{"generate"}, topicArgs(kc)...), without(scram, "--kafka-sasl-password-file")...)
		runCommandEnv(t, []string{broker.PasswordEnv + "=" + password}, 0, append(args, "--referrals", "10", "--log-format", "json")...)
	})
}

func topicArgs(kc broker.Config) []string {
	return []string{"--topic-referrals", kc.Topics.Referrals, "--topic-scheduling", kc.Topics.Scheduling,
		"--topic-communications", kc.Topics.Communications, "--topic-dlq", kc.Topics.DeadLetters}
}

// replace returns args with every old value replaced by new.
func replace(args []string, old, new string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == old {
			a = new
		}
		out[i] = a
	}
	return out
}

// without drops flag and the value after it.
func without(args []string, flag string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if args[i] == flag {
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func runCommand(t *testing.T, wantCode int, args ...string) string {
	t.Helper()
	return runCommandEnv(t, nil, wantCode, args...)
}

// runCommandEnv runs the binary to its end and checks its exit code; a
// command that should fail at start but retries forever is killed by the
// deadline and fails the test.
func runCommandEnv(t *testing.T, env []string, wantCode int, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	out, _ := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("referralops %s did not end within 2 minutes:\n%s", args[0], out)
	}
	if code := cmd.ProcessState.ExitCode(); code != wantCode {
		t.Fatalf("referralops %s exited %d, want %d:\n%s", strings.Join(args, " "), code, wantCode, out)
	}
	return string(out)
}
