// Package compat holds black-box tests of cairn-server through the NATS
// ecosystem's own clients: nats.go (both its jetstream and its legacy
// JetStreamContext KeyValue APIs) and the natscli binary.
//
// Every test runs against the in-process cairn daemon. With
// CAIRN_TEST_SERVER=peer the same tests run against a real nats-server
// (see internal/testserver), which is how their expectations were
// checked; tests that restart the server run against cairn only.
package compat

import (
	"io"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/server"
	"github.com/cairn-db/cairn/internal/testserver"
)

func TestMain(m *testing.M) { testserver.RunMain(m) }

// target is a server under test.
type target struct {
	URL  string
	peer bool
	dir  string
	cfg  daemon.Config
	d    *daemon.Daemon
}

// usePeer reports whether the suite runs against nats-server.
func usePeer() bool { return os.Getenv("CAIRN_TEST_SERVER") == "peer" }

// start runs the server under test for t.
func start(t *testing.T) *target {
	t.Helper()
	if usePeer() {
		return &target{URL: testserver.StartPeer(t).URL, peer: true}
	}
	return startCairn(t, daemon.Config{StoreDir: t.TempDir()})
}

// startCairn runs the cairn daemon with cfg on a free loopback port.
func startCairn(t *testing.T, cfg daemon.Config) *target {
	t.Helper()
	cfg.Server.Host = "127.0.0.1"
	cfg.Server.Port = -1
	cfg.Server.Logger = server.NewLogger(io.Discard, false, false)
	d, err := daemon.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tg := &target{URL: d.ClientURL(), dir: cfg.StoreDir, cfg: cfg, d: d}
	t.Cleanup(func() { tg.stop() })
	return tg
}

func (tg *target) stop() {
	if tg.d != nil {
		tg.d.Shutdown()
		tg.d = nil
	}
}

// restart stops the cairn daemon and starts it again on the same data.
func (tg *target) restart(t *testing.T) {
	t.Helper()
	if tg.peer {
		t.Skip("restart is tested against cairn only")
	}
	tg.stop()
	cfg := tg.cfg
	cfg.Server.Port = -1
	d, err := daemon.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tg.d, tg.URL = d, d.ClientURL()
}

// connect opens a nats.go connection closed at the end of t.
func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// newJS returns the new-style JetStream context.
func newJS(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(connect(t, url))
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// legacyJS returns the legacy nats.JetStreamContext.
func legacyJS(t *testing.T, url string) nats.JetStreamContext {
	t.Helper()
	js, err := connect(t, url).JetStream()
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
