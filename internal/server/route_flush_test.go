package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/server"
)

// subscribeRaw connects a raw client subscribed to subj.
func subscribeRaw(t *testing.T, s *server.Server, subj string) *rawConn {
	t.Helper()
	rc := dialRaw(t, s)
	rc.send("CONNECT {\"verbose\":false}\r\nSUB " + subj + " 1\r\nPING\r\n")
	if l := rc.line(time.Second); l != "PONG\r\n" {
		t.Fatalf("got %q, want PONG", l)
	}
	return rc
}

// TestRouteFlush: routed messages delivered with a RouteFlush reach the
// subscriber once the route reader flushes.
func TestRouteFlush(t *testing.T) {
	s := startServer(t, server.Options{})
	rc := subscribeRaw(t, s, "r.x")
	rf := server.NewRouteFlush()
	for i := range 3 {
		s.DeliverFromRoute(server.GlobalAccount, []byte("r.x"), []byte("r.x"), nil, nil, []byte{'a' + byte(i)}, true, nil, false, nil, rf)
	}
	rf.Flush()
	for i := range 3 {
		if l := rc.line(time.Second); l != "MSG r.x 1 1\r\n" {
			t.Fatalf("message %d: got %q", i, l)
		}
		if l := rc.line(time.Second); l != string(rune('a'+i))+"\r\n" {
			t.Fatalf("payload %d: got %q", i, l)
		}
	}
}

// TestRouteFlushStallBounded: a subscriber that reads nothing holds a
// route reader back once, for stallTimeout, and not again until its
// writer finishes a write; it is cut at MaxPending as before.
func TestRouteFlushStallBounded(t *testing.T) {
	s := startServer(t, server.Options{MaxPending: 48 << 20})
	rc := subscribeRaw(t, s, "r.x")
	rf := server.NewRouteFlush()
	payload := []byte(strings.Repeat("x", 64<<10))
	start := time.Now()
	const n = 400 // 25 MiB: past the socket's buffers, short of MaxPending
	for range n {
		s.DeliverFromRoute(server.GlobalAccount, []byte("r.x"), []byte("r.x"), nil, nil, payload, true, nil, false, nil, rf)
		rf.Flush()
	}
	// Without the once-per-write rule each Flush would wait 10ms.
	if d := time.Since(start); d > n*10*time.Millisecond/2 {
		t.Fatalf("%d flushes to a stuck subscriber took %v", n, d)
	}
	for range 500 {
		s.DeliverFromRoute(server.GlobalAccount, []byte("r.x"), []byte("r.x"), nil, nil, payload, true, nil, false, nil, rf)
		rf.Flush()
	}
	for deadline := time.Now().Add(5 * time.Second); s.NumClients() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a subscriber past MaxPending was not cut")
		}
	}
	_ = rc
}
