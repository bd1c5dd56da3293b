package server

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// These tests force the interleavings of two races that were once
// possible, using the server's test hooks to stop the reader goroutine at
// the critical point while the test plays the other side.

// newHookedServer starts a server on a free loopback port after setup has
// installed its hooks.
func newHookedServer(t *testing.T, opts Options, setup func(s *Server)) *Server {
	t.Helper()
	opts.Host, opts.Port = "127.0.0.1", -1
	if opts.Logger == nil {
		opts.Logger = NewLogger(io.Discard, false, false)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(s)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// lineConn is a raw protocol client for internal tests.
type lineConn struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

// dialLines connects, reads INFO, and sends a quiet CONNECT with headers.
func dialLines(t *testing.T, s *Server) *lineConn {
	t.Helper()
	conn, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	lc := &lineConn{t: t, conn: conn, r: bufio.NewReader(conn)}
	if l := lc.line(); !strings.HasPrefix(l, "INFO ") {
		t.Fatalf("first line %q", l)
	}
	lc.send("CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true,\"protocol\":1}\r\n")
	return lc
}

func (lc *lineConn) send(s string) {
	lc.t.Helper()
	if _, err := io.WriteString(lc.conn, s); err != nil {
		lc.t.Fatal(err)
	}
}

func (lc *lineConn) line() string {
	lc.t.Helper()
	lc.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	l, err := lc.r.ReadString('\n')
	if err != nil {
		lc.t.Fatalf("read: %v (got %q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

// sync sends PING and returns the lines received before the PONG.
func (lc *lineConn) sync() []string {
	lc.t.Helper()
	lc.send("PING\r\n")
	var got []string
	for {
		l := lc.line()
		if l == "PONG" {
			return got
		}
		got = append(got, l)
	}
}

// waitUntil polls cond until it holds or 5 s pass.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// A SUB whose sid is recorded just before the connection closes must not
// leave its subscription in the index once the close has removed the
// client's subscriptions.
func TestSubRacingClose(t *testing.T) {
	paused := make(chan *client)
	resume := make(chan struct{})
	s := newHookedServer(t, Options{}, func(s *Server) {
		s.hooks.subRecorded = func(c *client) {
			paused <- c
			<-resume
		}
	})
	lc := dialLines(t, s)
	lc.send("SUB foo 1\r\n")
	c := <-paused
	// The close runs entirely while the reader is inside Sub.
	c.closeConnection("test: closed while subscribing")
	close(resume)
	select {
	case <-c.readDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the reader did not finish")
	}
	if n := s.NumSubscriptions(); n != 0 {
		t.Fatalf("%d subscriptions left in the index after the close", n)
	}
}

// An UNSUB with a max that races the deliveries reaching that max must
// still remove the subscription, and deliver no more than max messages.
func TestUnsubMaxRacingDeliveries(t *testing.T) {
	paused := make(chan *client)
	resume := make(chan struct{})
	s := newHookedServer(t, Options{}, func(s *Server) {
		s.hooks.unsubFound = func(c *client) {
			paused <- c
			<-resume
		}
	})
	lc := dialLines(t, s)
	lc.send("SUB foo 1\r\n")
	lc.sync()
	lc.send("UNSUB 1 2\r\n")
	<-paused
	// Both messages are delivered while UNSUB has found the subscription
	// but not yet applied its max.
	s.Publish("foo", "", nil, []byte("a"))
	s.Publish("foo", "", nil, []byte("b"))
	close(resume)
	waitUntil(t, "the subscription to leave the index", func() bool { return s.NumSubscriptions() == 0 })
	s.Publish("foo", "", nil, []byte("c"))
	got := lc.sync()
	if len(got) != 4 || got[1] != "a" || got[3] != "b" {
		t.Fatalf("delivered %q, want a and b only", got)
	}
}
