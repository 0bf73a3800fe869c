// Package tlsfiles builds the client TLS configuration of a connection from
// the files an operator names (CA bundle, client certificate and key), with
// TLS 1.2 at least. Kafka and ClickHouse clients share it, so both refuse the
// same mistakes with the same words; errors name the settings by their flag
// prefix (e.g. "kafka-tls" gives kafka-tls-ca-file).
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// Files are a client's TLS settings.
type Files struct {
	CAFile, CertFile, KeyFile, ServerName string
}

// Client is the client configuration; prefix names the settings in errors.
func (f Files) Client(prefix string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.ServerName}
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s-ca-file: %w", prefix, err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s-ca-file: %s holds no PEM certificate", prefix, f.CAFile)
		}
	}
	if (f.CertFile == "") != (f.KeyFile == "") {
		return nil, errors.New(prefix + "-cert-file and " + prefix + "-key-file: set both or neither")
	}
	if f.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s-cert-file and %s-key-file: %w", prefix, prefix, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
