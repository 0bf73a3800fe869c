package broker_test

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/testenv"
)

// Every client of a process gets the same dialer and transport for the same
// settings, with TLS 1.2 at least and the SASL mechanism asked for.
func TestOneDialerAndTransportPerSetting(t *testing.T) {
	ca := testenv.NewCA(t, "broker-unit")
	password := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(password, []byte("unit-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := broker.DefaultConfig()
	c.TLS = broker.TLSConfig{Enabled: true, CAFile: ca.CertFile}
	c.SASL = broker.SASLConfig{Mechanism: broker.MechanismSCRAMSHA256, Username: "u", PasswordFile: password}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	d1, err := c.Dialer()
	if err != nil {
		t.Fatal(err)
	}
	d2, _ := c.Dialer()
	rt, _ := c.Transport()
	tr, ok := rt.(*kafka.Transport)
	if !ok || d1 != d2 || tr.TLS != d1.TLS || tr.SASL != d1.SASLMechanism {
		t.Fatalf("the dialers and the transport do not share one setting: %p %p %+v", d1, d2, rt)
	}
	if d1.TLS.MinVersion != tls.VersionTLS12 || d1.TLS.RootCAs == nil || d1.SASLMechanism.Name() != "SCRAM-SHA-256" {
		t.Errorf("TLS min %x, roots %v, mechanism %s", d1.TLS.MinVersion, d1.TLS.RootCAs != nil, d1.SASLMechanism.Name())
	}
	other := c
	other.SASL.Mechanism = broker.MechanismSCRAMSHA512
	if d3, _ := other.Dialer(); d3 == d1 {
		t.Error("another mechanism got the same dialer")
	}
	plain := broker.DefaultConfig()
	if rt, _ := plain.Transport(); rt != nil {
		t.Errorf("without TLS or SASL the transport is %T, want kafka-go's default (nil)", rt)
	}
}
