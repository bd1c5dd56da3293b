// Package testcert makes throwaway certificates for TLS tests: a CA, and
// certificates for 127.0.0.1 and localhost signed by it, usable by
// servers and clients alike. It imports only the standard library, so
// that any package's tests can use it (internal/server's included).
//
//	ca, caKey := testcert.Write(t, dir, "ca", nil, nil, true)
//	testcert.Write(t, dir, "server", ca, caKey, false) // dir/server.pem, dir/server-key.pem
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// New makes a certificate and its key: a CA when isCA, otherwise a leaf
// for 127.0.0.1 and localhost with server and client use, signed by
// parent (self-signed when parent is nil). It is valid from an hour ago
// for a day.
func New(t testing.TB, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	tmpl := template(name)
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	} else {
		addLeafUse(tmpl)
	}
	return sign(t, tmpl, parent, parentKey)
}

// Write is New, also writing NAME.pem and NAME-key.pem (PEM) in dir.
func Write(t testing.TB, dir, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	cert, key := New(t, name, parent, parentKey, isCA)
	writeFiles(t, dir, name, cert, key)
	return cert, key
}

// WriteLeaf is Write for a leaf certificate whose template edit may
// change first (its subject, email addresses, DNS names or URIs), for
// tests of certificate mapping.
func WriteLeaf(t testing.TB, dir, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, edit func(*x509.Certificate)) *x509.Certificate {
	t.Helper()
	tmpl := template(name)
	addLeafUse(tmpl)
	if edit != nil {
		edit(tmpl)
	}
	cert, key := sign(t, tmpl, parent, parentKey)
	writeFiles(t, dir, name, cert, key)
	return cert
}

// SelfSigned writes NAME.pem and NAME-key.pem in dir: one self-signed
// certificate that is both a CA and a leaf for 127.0.0.1 and localhost,
// so that the same file serves as a server's certificate and as the
// client's root. It returns the two paths.
func SelfSigned(t testing.TB, dir, name string) (certFile, keyFile string) {
	t.Helper()
	tmpl := template(name)
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	addLeafUse(tmpl)
	tmpl.KeyUsage |= x509.KeyUsageCertSign
	cert, key := sign(t, tmpl, nil, nil)
	return writeFiles(t, dir, name, cert, key)
}

// TLSCertificate pairs a certificate with its key for a tls.Config.
func TLSCertificate(cert *x509.Certificate, key *ecdsa.PrivateKey) tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
}

func template(name string) *x509.Certificate {
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name, Organization: []string{"Cairn test"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
}

func addLeafUse(tmpl *x509.Certificate) {
	tmpl.KeyUsage |= x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	tmpl.DNSNames = []string{"localhost"}
}

// sign makes the certificate of tmpl with a new P-256 key, signed by
// parent (tmpl itself when nil).
func sign(t testing.TB, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func writeFiles(t testing.TB, dir, name string, cert *x509.Certificate, key *ecdsa.PrivateKey) (certFile, keyFile string) {
	t.Helper()
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
