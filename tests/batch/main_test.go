// Package batch tests atomic batch publish (ADR-50) through the
// clients that use it: orbit.go's jetstreamext batch publisher, raw
// nats.go publishes with the batch headers, and natscli's
// `nats pub --atomic`. The differential tests run the same script
// against cairn-server and the nats-server peer and require the same
// acknowledgements, errors and stored messages; the others check what
// the peer cannot show (all-or-nothing under concurrency and kill -9).
package batch

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

// target is one server of a differential test.
type target struct {
	name string // "cairn" or "peer"
	url  string
}

// startCairn runs the cairn daemon in process with cfg.
func startCairn(t *testing.T, cfg daemon.Config) target {
	t.Helper()
	cfg.Server.Host = "127.0.0.1"
	cfg.Server.Port = -1
	cfg.Server.Logger = server.NewLogger(io.Discard, false, false)
	if cfg.StoreDir == "" {
		cfg.StoreDir = t.TempDir()
	}
	d, err := daemon.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Shutdown)
	return target{name: "cairn", url: d.ClientURL()}
}

// both starts cairn and the peer, each with the same batch limits
// (given to the peer as a config file).
func both(t *testing.T, lim string) []target {
	t.Helper()
	var cfg daemon.Config
	var peerArgs []string
	if lim != "" {
		conf := t.TempDir() + "/peer.conf"
		if err := os.WriteFile(conf, []byte("jetstream { limits { batch { "+lim+" } } }\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		peerArgs = []string{"-c", conf}
		cfg = cairnLimits(t, conf)
	}
	return []target{startCairn(t, cfg), {name: "peer", url: testserver.StartPeer(t, peerArgs...).URL}}
}

func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func newJS(t *testing.T, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(5*time.Second))
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
		time.Sleep(10 * time.Millisecond)
	}
}
