package server

import (
	"strconv"
	"strings"
	"testing"
)

// onlyClient returns the server's single client connection.
func onlyClient(t *testing.T, s *Server) *client {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.mu.clients) != 1 {
		t.Fatalf("%d clients, want 1", len(s.mu.clients))
	}
	for _, c := range s.mu.clients {
		return c
	}
	return nil
}

// TestBuffersShrinkAfterBurst: a connection that sent and received a
// 1 MiB message holds small buffers again once the burst is over.
func TestBuffersShrinkAfterBurst(t *testing.T) {
	s := newHookedServer(t, Options{}, nil)
	lc := dialLines(t, s)
	payload := strings.Repeat("x", 1<<20)
	lc.send("SUB big 1\r\nPUB big " + strconv.Itoa(len(payload)) + "\r\n" + payload + "\r\n")
	if l := lc.line(); l != "MSG big 1 1048576" {
		t.Fatalf("got %q", l)
	}
	if l := lc.line(); len(l) != len(payload) {
		t.Fatalf("payload of %d bytes", len(l))
	}
	c := onlyClient(t, s)
	// A round trip or two later (a short read, a small write) nothing
	// of the burst is left: as nats-server shrinks on PING/PONG.
	var read, parser, out, spare int
	waitUntil(t, "small buffers", func() bool {
		lc.sync()
		read, parser, out, spare = c.bufferSizes()
		return read <= readSmall && parser <= 4096 && out+spare <= 2*outKeep
	})
	t.Logf("read %d, parser %d, out %d, spare %d", read, parser, out, spare)
}
