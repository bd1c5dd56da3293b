package main

import (
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/cairn-db/cairn/internal/testcert"
)

// TestConfigTLS: a tls block is enforced by the server started from the
// file (a plain-text client is refused, a TLS client gets in), and so
// is verify_and_map (the client's certificate names its user).
func TestConfigTLS(t *testing.T) {
	cert, key := testcert.SelfSigned(t, t.TempDir(), "server")
	block := "tls {\n  cert_file: \"" + cert + "\"\n  key_file: \"" + key + "\"\n"

	d := startFromConf(t, block+"}\n")
	if nc, err := nats.Connect(d.ClientURL(), nats.NoReconnect()); err == nil {
		nc.Close()
		t.Fatal("a plain-text client got in")
	}
	nc, err := nats.Connect(d.ClientURL(), nats.RootCAs(cert), nats.NoReconnect())
	if err != nil {
		t.Fatalf("TLS client: %v", err)
	}
	nc.Close()

	// verify_and_map: the certificate is the user (here the one
	// certificate serves as the CA, the server's and the client's).
	d = startFromConf(t, block+"  ca_file: \""+cert+"\"\n  verify_and_map: true\n}\nauthorization { users: [ { user: \"CN=server,O=Cairn test\" } ] }\n")
	nc, err = nats.Connect(d.ClientURL(), nats.RootCAs(cert), nats.ClientCert(cert, key), nats.NoReconnect())
	if err != nil {
		t.Fatalf("mapped client: %v", err)
	}
	nc.Close()
	if nc, err := nats.Connect(d.ClientURL(), nats.RootCAs(cert), nats.NoReconnect()); err == nil {
		nc.Close()
		t.Fatal("a client without a certificate got in under verify_and_map")
	}
}
