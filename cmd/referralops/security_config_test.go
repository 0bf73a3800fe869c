package main

import (
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/broker"
)

func TestSecurityConfigKeys(t *testing.T) {
	cfg, code, out := loadIngest(t, map[string]string{"REFERRALOPS_WEB_READ_TIMEOUT": "7s"}, "--config", "testdata/security.yaml")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, out)
	}
	k, c, h := cfg.Kafka, cfg.ClickHouse, cfg.HTTP
	if !k.TLS.Enabled || k.TLS.CAFile == "" || k.TLS.ServerName != "kafka.internal" ||
		k.SASL.Mechanism != broker.MechanismSCRAMSHA512 || k.SASL.Username != "referralops" || k.SASL.PasswordFile != "testdata/kafka-password" {
		t.Errorf("kafka security from the file: %+v %+v", k.TLS, k.SASL)
	}
	if !c.TLS.Enabled || c.TLS.ServerName != "clickhouse.internal" {
		t.Errorf("clickhouse tls from the file: %+v", c.TLS)
	}
	if h.WebConfigFile != "testdata/web-config.yml" || h.ReadTimeout != 7*time.Second || h.WriteTimeout != 20*time.Second || h.IdleTimeout != time.Minute || h.Pprof {
		t.Errorf("http from the file and REFERRALOPS_WEB_READ_TIMEOUT: %+v", h)
	}
}

func TestSecurityConfigInvalid(t *testing.T) {
	const secret = "env-secret-5d2c"
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"password twice", map[string]string{broker.PasswordEnv: secret}, []string{"--config", "testdata/security.yaml"},
			"kafka-sasl-password-file: " + broker.PasswordEnv + " is set too"},
		{"no password", nil, []string{"--kafka-tls", "--kafka-sasl-mechanism", "scram-sha-256", "--kafka-sasl-username", "u"}, "kafka-sasl-password-file: required"},
		{"unknown mechanism", map[string]string{broker.PasswordEnv: secret}, []string{"--kafka-sasl-mechanism", "gssapi", "--kafka-sasl-username", "u"}, `kafka-sasl-mechanism: "gssapi"`},
		{"plain without tls", map[string]string{broker.PasswordEnv: secret}, []string{"--kafka-sasl-mechanism", "plain", "--kafka-sasl-username", "u"}, "it needs --kafka-tls"},
		{"kafka tls file without tls", nil, []string{"--kafka-tls-ca-file", "testdata/security.yaml"}, "kafka-tls: the --kafka-tls-* settings need --kafka-tls"},
		{"kafka cert without key", nil, []string{"--kafka-tls", "--kafka-tls-cert-file", "testdata/security.yaml"}, "kafka-tls-cert-file and kafka-tls-key-file: set both"},
		{"kafka ca missing", nil, []string{"--kafka-tls", "--kafka-tls-ca-file", "testdata/nope.pem"}, "kafka-tls-ca-file"},
		{"clickhouse ca not pem", nil, []string{"--clickhouse-tls", "--clickhouse-tls-ca-file", "testdata/ingest.yaml"}, "clickhouse-tls-ca-file: testdata/ingest.yaml holds no PEM certificate"},
		{"clickhouse tls file without tls", nil, []string{"--clickhouse-tls-server-name", "x"}, "clickhouse-tls: the --clickhouse-tls-* settings need --clickhouse-tls"},
		{"web config missing", nil, []string{"--web.config.file", "testdata/nope.yml"}, "web.config.file"},
		{"web config by env", map[string]string{"REFERRALOPS_WEB_CONFIG_FILE": "testdata/ingest.yaml"}, nil, "web.config.file"},
		{"zero timeout", nil, []string{"--web.write-timeout", "0s"}, "web.write-timeout: must be > 0"},
		{"pprof off loopback", nil, []string{"--debug.pprof", "--debug.pprof-listen", ":6060"}, "debug.pprof-listen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, code, out := loadIngest(t, tc.env, tc.args...)
			if code != exitBadConfig {
				t.Errorf("exit %d, want %d", code, exitBadConfig)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("output does not name the setting (%q):\n%s", tc.want, out)
			}
			if strings.Contains(out, secret) || strings.Contains(out, "file-secret") {
				t.Errorf("a password appears in the output:\n%s", out)
			}
		})
	}
}
