package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/referralops/referralops/internal/tlsfiles"
)

// PasswordEnv holds the SASL password when --kafka-sasl-password-file is not
// set. There is deliberately no password flag: a flag's value shows in `ps`
// and in shell histories.
const PasswordEnv = "REFERRALOPS_KAFKA_SASL_PASSWORD"

// SASL mechanisms of --kafka-sasl-mechanism.
const (
	MechanismPlain       = "plain"
	MechanismSCRAMSHA256 = "scram-sha-256"
	MechanismSCRAMSHA512 = "scram-sha-512"
)

// TLSConfig is how every Kafka client encrypts and, with a certificate,
// authenticates its connections (mTLS).
type TLSConfig struct {
	Enabled    bool   `yaml:"enabled"`
	CAFile     string `yaml:"ca_file"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any broker certificate: encryption without
	// authentication of the broker, for tests only; logged loudly at start.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// SASLConfig is how every Kafka client authenticates with a user name and a
// password. The password comes from PasswordFile or the PasswordEnv variable,
// never from a flag or the YAML file.
type SASLConfig struct {
	Mechanism    string `yaml:"mechanism"` // empty: no SASL
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
}

func (c *Config) registerSecurityFlags(fs *flag.FlagSet) {
	fs.BoolVar(&c.TLS.Enabled, "kafka-tls", c.TLS.Enabled, "connect to the Kafka brokers over TLS (1.2 or later)")
	fs.StringVar(&c.TLS.CAFile, "kafka-tls-ca-file", c.TLS.CAFile, "PEM CA certificates that sign the brokers' certificates (default: the system's roots)")
	fs.StringVar(&c.TLS.CertFile, "kafka-tls-cert-file", c.TLS.CertFile, "PEM client certificate, for brokers that authenticate clients by certificate (mTLS)")
	fs.StringVar(&c.TLS.KeyFile, "kafka-tls-key-file", c.TLS.KeyFile, "PEM private key of --kafka-tls-cert-file")
	fs.StringVar(&c.TLS.ServerName, "kafka-tls-server-name", c.TLS.ServerName, "name the brokers' certificates must carry (default: each broker's host)")
	fs.BoolVar(&c.TLS.InsecureSkipVerify, "kafka-tls-insecure-skip-verify", c.TLS.InsecureSkipVerify, "accept any broker certificate (tests only: anyone on the path can read and change the traffic)")
	fs.StringVar(&c.SASL.Mechanism, "kafka-sasl-mechanism", c.SASL.Mechanism, "SASL authentication: plain, scram-sha-256 or scram-sha-512 (default: none)")
	fs.StringVar(&c.SASL.Username, "kafka-sasl-username", c.SASL.Username, "SASL user name")
	fs.StringVar(&c.SASL.PasswordFile, "kafka-sasl-password-file", c.SASL.PasswordFile, "file holding the SASL password (or set "+PasswordEnv+")")
}

func (c Config) validateSecurity() []error {
	var errs []error
	t := c.TLS
	if !t.Enabled && (t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "" || t.InsecureSkipVerify) {
		errs = append(errs, errors.New("kafka-tls: the --kafka-tls-* settings need --kafka-tls"))
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, errors.New("kafka-tls-cert-file and kafka-tls-key-file: set both or neither"))
	}
	for _, f := range []struct{ name, path string }{
		{"kafka-tls-ca-file", t.CAFile}, {"kafka-tls-cert-file", t.CertFile}, {"kafka-tls-key-file", t.KeyFile},
	} {
		if f.path != "" {
			if _, err := os.Stat(f.path); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", f.name, err))
			}
		}
	}
	s := c.SASL
	switch s.Mechanism {
	case "":
		if s.Username != "" || s.PasswordFile != "" {
			errs = append(errs, errors.New("kafka-sasl-mechanism: needed with --kafka-sasl-username and --kafka-sasl-password-file"))
		}
		return errs
	case MechanismPlain, MechanismSCRAMSHA256, MechanismSCRAMSHA512:
	default:
		errs = append(errs, fmt.Errorf("kafka-sasl-mechanism: %q is not plain, scram-sha-256 or scram-sha-512", s.Mechanism))
	}
	if s.Username == "" {
		errs = append(errs, errors.New("kafka-sasl-username: required with --kafka-sasl-mechanism"))
	}
	if _, err := s.password(); err != nil {
		errs = append(errs, err)
	}
	if s.Mechanism == MechanismPlain && !t.Enabled {
		errs = append(errs, errors.New("kafka-sasl-mechanism: plain sends the password as it is; it needs --kafka-tls"))
	}
	return errs
}

// password reads the SASL password. Errors name the setting, never the value.
func (s SASLConfig) password() (string, error) {
	env, envSet := os.LookupEnv(PasswordEnv)
	switch {
	case s.PasswordFile != "" && envSet:
		return "", fmt.Errorf("kafka-sasl-password-file: %s is set too; use one", PasswordEnv)
	case s.PasswordFile != "":
		b, err := os.ReadFile(s.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("kafka-sasl-password-file: %w", err)
		}
		// A trailing newline is how editors and `echo` end a file, not part of the password.
		p := strings.TrimRight(string(b), "\r\n")
		if p == "" {
			return "", fmt.Errorf("kafka-sasl-password-file: %s is empty", s.PasswordFile)
		}
		return p, nil
	case envSet && env != "":
		return env, nil
	}
	return "", fmt.Errorf("kafka-sasl-password-file: required with --kafka-sasl-mechanism (or set %s)", PasswordEnv)
}

// Secured reports whether the clients use TLS or SASL.
func (c Config) Secured() bool { return c.TLS.Enabled || c.SASL.Mechanism != "" }

// connection is what every kafka-go client of a process shares: the dialer
// (consumer group, readers, the startup probe) and the transport (writers,
// admin clients), both with the same TLS and SASL settings.
type connection struct {
	dialer    *kafka.Dialer
	transport *kafka.Transport
}

// connectionKey tells security settings apart; it holds the password itself
// (in memory only) so that a changed password file is not served a stale
// mechanism.
type connectionKey struct {
	tls                 TLSConfig
	mechanism, username string
	password            string
}

// connections holds one connection per security setting: kafka-go pools
// connections per Transport, so sharing one keeps a process's clients on
// one pool, and its TLS files are read once.
var (
	connectionsMu sync.Mutex
	connections   = map[connectionKey]*connection{}
)

// plainConnection has no TLS and no SASL; its dialer is newDialer.
var plainConnection = &connection{dialer: newDialer()}

func (c Config) connection() (*connection, error) {
	if !c.Secured() {
		return plainConnection, nil
	}
	key := connectionKey{tls: c.TLS, mechanism: c.SASL.Mechanism, username: c.SASL.Username}
	if c.SASL.Mechanism != "" {
		p, err := c.SASL.password()
		if err != nil {
			return nil, err
		}
		key.password = p
	}
	connectionsMu.Lock()
	defer connectionsMu.Unlock()
	if conn, ok := connections[key]; ok {
		return conn, nil
	}
	var tlsConfig *tls.Config
	if c.TLS.Enabled {
		var err error
		if tlsConfig, err = c.TLS.build(); err != nil {
			return nil, err
		}
	}
	var mech sasl.Mechanism
	switch c.SASL.Mechanism {
	case "":
	case MechanismPlain:
		mech = plain.Mechanism{Username: key.username, Password: key.password}
	default:
		algo := scram.SHA512
		if c.SASL.Mechanism == MechanismSCRAMSHA256 {
			algo = scram.SHA256
		}
		m, err := scram.Mechanism(algo, key.username, key.password)
		if err != nil {
			return nil, fmt.Errorf("kafka-sasl-password-file: %w", err)
		}
		mech = m
	}
	dialer := newDialer()
	dialer.TLS, dialer.SASLMechanism = tlsConfig, mech
	conn := &connection{
		dialer: dialer,
		// The dialer's settings; kafka-go's transport defaults otherwise.
		transport: &kafka.Transport{DialTimeout: 10 * time.Second, TLS: tlsConfig, SASL: mech},
	}
	connections[key] = conn
	return conn, nil
}

// build is the client TLS configuration; errors name the setting.
func (t TLSConfig) build() (*tls.Config, error) {
	cfg, err := tlsfiles.Files{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile, ServerName: t.ServerName}.Client("kafka-tls")
	if err != nil {
		return nil, err
	}
	cfg.InsecureSkipVerify = t.InsecureSkipVerify //nolint:gosec // a documented, loudly logged setting
	return cfg, nil
}

// Dialer is the dialer of kafka-go readers and consumer groups, with the TLS
// and SASL settings.
func (c Config) Dialer() (*kafka.Dialer, error) {
	conn, err := c.connection()
	if err != nil {
		return nil, err
	}
	return conn.dialer, nil
}

// Transport is the transport of kafka-go writers and clients, with the TLS and
// SASL settings; nil (kafka-go's default transport) without them.
func (c Config) Transport() (kafka.RoundTripper, error) {
	conn, err := c.connection()
	if err != nil {
		return nil, err
	}
	if conn.transport == nil {
		return nil, nil
	}
	return conn.transport, nil
}

// Client is an admin client of the brokers.
func (c Config) Client(timeout time.Duration) (*kafka.Client, error) {
	t, err := c.Transport()
	if err != nil {
		return nil, err
	}
	return &kafka.Client{Addr: kafka.TCP(c.Brokers...), Timeout: timeout, Transport: t}, nil
}

// ErrRejected means the brokers answered but refused the client's TLS or SASL
// credentials, or the client refused the brokers' certificate: retrying
// cannot help, the configuration must change.
var ErrRejected = errors.New("kafka refused the connection's security settings")

// Probe connects to the first broker that answers, with TLS and SASL as
// configured, so that a wrong password or an untrusted certificate fails at
// start, wrapping ErrRejected, with the setting to fix in the message. An
// unreachable broker is not an error here (it may come up later): Probe then
// returns nil and the clients retry as usual.
func Probe(ctx context.Context, c Config) error {
	if !c.Secured() {
		return nil // nothing to refuse
	}
	d, err := c.Dialer()
	if err != nil {
		return err
	}
	for _, addr := range c.Brokers {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			// One round trip: under TLS 1.3 the broker checks the client
			// certificate after the client's handshake has completed.
			_, err = conn.ApiVersions()
			conn.Close()
			if err == nil {
				return nil
			}
		}
		if rejected := c.rejection(addr, err); rejected != nil {
			return rejected
		}
	}
	return nil // unreachable: the callers' retry loops report it
}

// rejection names the setting behind a security failure of dialing addr, or
// is nil for any other failure (network, broker down).
func (c Config) rejection(addr string, err error) error {
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		verify    *tls.CertificateVerificationError
		record    tls.RecordHeaderError
		remote    *net.OpError
	)
	switch {
	case errors.Is(err, kafka.SASLAuthenticationFailed):
		return fmt.Errorf("%w: kafka-sasl-username, kafka-sasl-password-file (or %s): broker %s refused %s authentication as %q: wrong user name or password",
			ErrRejected, PasswordEnv, addr, c.SASL.Mechanism, c.SASL.Username)
	case errors.Is(err, kafka.UnsupportedSASLMechanism), errors.Is(err, kafka.IllegalSASLState):
		return fmt.Errorf("%w: kafka-sasl-mechanism: broker %s does not accept %s on this listener: %v", ErrRejected, addr, c.SASL.Mechanism, err)
	case errors.As(err, &unknownCA):
		return fmt.Errorf("%w: kafka-tls-ca-file: broker %s presented a certificate signed by an authority the CA file does not hold: %v", ErrRejected, addr, err)
	case errors.As(err, &hostname):
		return fmt.Errorf("%w: kafka-tls-server-name: the certificate of broker %s is not valid for the expected name: %v", ErrRejected, addr, err)
	case errors.As(err, &verify):
		return fmt.Errorf("%w: kafka-tls-ca-file: the certificate of broker %s is not valid: %v", ErrRejected, addr, err)
	case errors.As(err, &record):
		return fmt.Errorf("%w: kafka-tls: broker %s does not speak TLS on this port", ErrRejected, addr)
	case c.TLS.Enabled && errors.As(err, &remote) && remote.Op == "remote error":
		// crypto/tls reports an alert from the peer this way: here, the
		// broker refusing the client's certificate, or its absence.
		return fmt.Errorf("%w: kafka-tls-cert-file: broker %s refused the TLS session (a client certificate it does not trust, or none): %v", ErrRejected, addr, err)
	}
	return nil
}
