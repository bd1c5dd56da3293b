package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/cairn-db/cairn/internal/testcert"
)

// TestConfigTLS: a tls block is enforced by the server started from the
// file (a plain-text client is refused, a TLS client gets in), and
// verify_and_map, which is not, keeps the server from starting.
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

	mapped := writeConf(t, block+"  verify_and_map: true\n}\n")
	var out bytes.Buffer
	if rc := run([]string{"-c", mapped, "-sd", t.TempDir()}, &out); rc != 1 || !strings.Contains(out.String(), "tls.verify_and_map: not enforced by this build yet") {
		t.Errorf("start with verify_and_map: rc %d, output %q", rc, out.String())
	}
}
