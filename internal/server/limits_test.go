package server_test

import (
	"io"
	"strings"
	"testing"

	"github.com/cairn-db/cairn/internal/server"
)

// The answers below were recorded from nats-server v2.15.2 started with
// the same limits in a config file (max_subscriptions: 2,
// max_connections: 1).

func TestMaxSubscriptions(t *testing.T) {
	s := startServer(t, server.Options{MaxSubscriptions: 2})
	rc := dialRaw(t, s)
	// The limit is checked before the sid: a repeated SUB is refused too.
	rc.send("CONNECT {\"verbose\":true,\"pedantic\":false,\"protocol\":1}\r\nSUB a 1\r\nSUB b 2\r\nSUB c 3\r\nSUB a 1\r\nPING\r\n")
	want := "+OK\r\n+OK\r\n+OK\r\n-ERR 'maximum subscriptions exceeded'\r\n-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n<open>"
	if got := rc.readAll(); got != want {
		t.Fatalf("\n got %q\nwant %q", got, want)
	}
	// The connection stays; an UNSUB makes room for one more.
	rc.send("UNSUB 1\r\nSUB c 3\r\nSUB d 4\r\nPING\r\n")
	want = "+OK\r\n+OK\r\n-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n<open>"
	if got := rc.readAll(); got != want {
		t.Fatalf("\n got %q\nwant %q", got, want)
	}
	if n := s.NumSubscriptions(); n != 2 {
		t.Fatalf("%d subscriptions in the index, want 2", n)
	}
}

func TestMaxConnections(t *testing.T) {
	s := startServer(t, server.Options{MaxConnections: 1})
	first := dialRaw(t, s)
	second := dialRaw(t, s) // INFO first, then the error
	if got, want := second.readAll(), "-ERR 'maximum connections exceeded'\r\n<EOF>"; got != want {
		t.Fatalf("\n got %q\nwant %q", got, want)
	}
	first.send("PING\r\n")
	if got := first.readAll(); got != "PONG\r\n<open>" {
		t.Fatalf("first connection: %q", got)
	}

	// A negative limit refuses everyone, as max_connections: 0 does in
	// nats-server's config file.
	none := startServer(t, server.Options{MaxConnections: -1})
	if got := dialRaw(t, none).readAll(); got != "-ERR 'maximum connections exceeded'\r\n<EOF>" {
		t.Fatalf("max_connections -1: %q", got)
	}
}

func TestMaxControlLine(t *testing.T) {
	s := startServer(t, server.Options{MaxControlLine: 64})
	rc := dialRaw(t, s)
	rc.send("SUB " + strings.Repeat("a", 70) + " 1\r\n")
	if got, want := rc.readAll(), "-ERR 'maximum control line exceeded'\r\n<EOF>"; got != want {
		t.Fatalf("\n got %q\nwant %q", got, want)
	}
}

func TestLimitOptionsValidated(t *testing.T) {
	_, err := server.New(server.Options{MaxPayload: 2 << 20, MaxPending: 1 << 20, Logger: server.NewLogger(io.Discard, false, false)})
	if err == nil || !strings.Contains(err.Error(), "max_payload (2097152) cannot be higher than max_pending (1048576)") {
		t.Fatalf("err = %v", err)
	}
	if _, err := server.New(server.Options{MaxSubscriptions: -1}); err == nil {
		t.Fatal("negative max_subscriptions accepted")
	}
}
