package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"

	"github.com/cairn-db/cairn/internal/server"
)

// serverConfig builds the crypto/tls configuration of a tls block:
// the certificate and key, TLS 1.2 at least, and with verify a client
// certificate signed by ca_file (or the system roots without one).
func (t *TLS) serverConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("ca_file holds no PEM certificate")
		}
		cfg.ClientCAs = pool
	}
	if t.Verify {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// applyTLS sets the server's TLS options from the tls block and
// allow_non_tls.
func (c *Config) applyTLS(so *server.Options) {
	t := c.TLS
	if t == nil || t.config == nil {
		return
	}
	so.TLSConfig = t.config
	so.TLSTimeout = t.Timeout
	so.TLSHandshakeFirst = t.HandshakeFirst
	so.TLSHandshakeFirstFallback = t.HandshakeFirstFallback
	so.AllowNonTLS = c.AllowNonTLS
	// verify_and_map (which implies verify): the users list is matched
	// against client certificates (internal/auth certmap.go).
	so.Auth.TLSMap = t.VerifyAndMap
}
