// Package hostile holds one hostile client per class of attack that issue
// 9 closed: arithmetic that would wrap, feedback loops, unbounded work per
// request, memory that follows traffic instead of live data, durability,
// watch snapshots, races and swallowed errors. Each test drives a real
// cairn daemon on a loopback port through raw TCP or nats.go, the way a
// careless or malicious client would, and asserts the server stays
// correct and responsive.
package hostile

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/server"
	"github.com/cairn-db/cairn/internal/testserver"
)

func TestMain(m *testing.M) { testserver.RunMain(m) }

// target is a cairn daemon under attack.
type target struct {
	URL  string
	Addr string // host:port of the client listener
	cfg  daemon.Config
	d    *daemon.Daemon
}

// start runs a cairn daemon with its store in a temporary directory.
func start(t *testing.T) *target {
	t.Helper()
	return startWith(t, daemon.Config{StoreDir: t.TempDir()})
}

// startWith runs a cairn daemon with cfg on a free loopback port and
// stops it when t ends.
func startWith(t *testing.T, cfg daemon.Config) *target {
	t.Helper()
	if cfg.StoreDir == "" {
		cfg.StoreDir = t.TempDir()
	}
	cfg.Server.Host = "127.0.0.1"
	cfg.Server.Port = -1
	if cfg.Server.Logger == nil {
		cfg.Server.Logger = server.NewLogger(io.Discard, false, false)
	}
	d, err := daemon.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tg := &target{URL: d.ClientURL(), cfg: cfg, d: d}
	tg.Addr = strings.TrimPrefix(tg.URL, "nats://")
	t.Cleanup(tg.stop)
	return tg
}

func (tg *target) stop() {
	if tg.d != nil {
		tg.d.Shutdown()
		tg.d = nil
	}
}

// restart stops the daemon and starts it again on the same store.
func (tg *target) restart(t *testing.T) {
	t.Helper()
	tg.stop()
	cfg := tg.cfg
	cfg.Server.Port = -1
	d, err := daemon.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tg.d, tg.URL = d, d.ClientURL()
	tg.Addr = strings.TrimPrefix(tg.URL, "nats://")
}

// connect opens a nats.go connection closed at the end of t.
func connect(t *testing.T, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, append([]nats.Option{nats.Timeout(5 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// newJS returns a jetstream context on a new connection.
func newJS(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc := connect(t, url)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// rawConn is a raw TCP client speaking the protocol by hand.
type rawConn struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

// dialRaw connects, reads INFO and sends CONNECT (with headers and
// no_responders on) followed by PING, and waits for the PONG.
func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc := &rawConn{t: t, conn: c, r: bufio.NewReaderSize(c, 1<<16)}
	if line := rc.line(); !strings.HasPrefix(line, "INFO ") {
		t.Fatalf("first line %q, want INFO", line)
	}
	rc.send("CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true,\"protocol\":1}\r\nPING\r\n")
	rc.expect("PONG")
	return rc
}

// send writes s as is.
func (rc *rawConn) send(s string) {
	rc.t.Helper()
	rc.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(rc.conn, s); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

// line reads one protocol line without its CRLF, failing after 10 s.
func (rc *rawConn) line() string {
	rc.t.Helper()
	rc.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	s, err := rc.r.ReadString('\n')
	if err != nil {
		rc.t.Fatalf("read: %v (so far %q)", err, s)
	}
	return strings.TrimRight(s, "\r\n")
}

// expect reads lines, skipping PINGs (answered) and INFOs, until one
// starts with prefix.
func (rc *rawConn) expect(prefix string) string {
	rc.t.Helper()
	for i := 0; i < 1000; i++ {
		l := rc.line()
		switch {
		case strings.HasPrefix(l, prefix):
			return l
		case l == "PING":
			rc.send("PONG\r\n")
		case strings.HasPrefix(l, "INFO "):
		default:
			rc.t.Fatalf("got %q, want a line starting with %q", l, prefix)
		}
	}
	rc.t.Fatalf("no line starting with %q", prefix)
	return ""
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
