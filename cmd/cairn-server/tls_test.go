package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/server"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key
// in dir and returns their paths.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "cairn"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestConfigTLS: a tls block is enforced by the server started from the
// file (a plain-text client is refused, a TLS client gets in), and
// verify_and_map, which is not, keeps the server from starting.
func TestConfigTLS(t *testing.T) {
	cert, key := selfSigned(t, t.TempDir())
	block := "tls {\n  cert_file: \"" + cert + "\"\n  key_file: \"" + key + "\"\n"

	o, err := parseFlags([]string{"-c", writeConf(t, block+"}\n"), "-a", "127.0.0.1", "-p", "-1", "-sd", t.TempDir()}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if err := refuseUnenforced(o.file); err != nil {
		t.Fatal(err)
	}
	o.cfg.Server.Logger = server.NewLogger(io.Discard, false, false)
	d, err := daemon.Start(o.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown()
	if nc, err := nats.Connect(d.ClientURL(), nats.NoReconnect()); err == nil {
		nc.Close()
		t.Fatal("a plain-text client got in")
	}
	nc, err := nats.Connect(d.ClientURL(), nats.RootCAs(cert), nats.NoReconnect())
	if err != nil {
		t.Fatalf("TLS client: %v", err)
	}
	nc.Close()

	mapped := writeConf(t, block+"  verify_and_map: true\n}\n")
	var out bytes.Buffer
	if rc := run([]string{"-c", mapped, "-sd", t.TempDir()}, &out); rc != 1 || !strings.Contains(out.String(), "tls.verify_and_map: not enforced by this build yet") {
		t.Errorf("start with verify_and_map: rc %d, output %q", rc, out.String())
	}
}
