package server_test

import (
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cairn-db/cairn/internal/server"
)

// TestLameDuckInfoAndClose: lame duck mode closes the listener, sends
// INFO with ldm: true to protocol 1 clients only, keeps them served
// through the grace period, then closes them all and returns.
func TestLameDuckInfoAndClose(t *testing.T) {
	logs := &logBuffer{}
	s := startServer(t, server.Options{Logger: server.NewLogger(logs, false, false)})
	p1 := dialRaw(t, s)
	p1.send("CONNECT {\"protocol\":1,\"verbose\":false}\r\nPING\r\n")
	if l := p1.line(time.Second); l != "PONG\r\n" {
		t.Fatalf("got %q", l)
	}
	p0 := dialRaw(t, s)
	p0.send("CONNECT {\"protocol\":0,\"verbose\":false}\r\nPING\r\n")
	if l := p0.line(time.Second); l != "PONG\r\n" {
		t.Fatalf("got %q", l)
	}
	ldmSeen := make(chan struct{}, 1)
	nc, err := nats.Connect(s.ClientURL(), nats.NoReconnect(),
		nats.LameDuckModeHandler(func(*nats.Conn) { ldmSeen <- struct{}{} }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	const grace = 500 * time.Millisecond
	start := time.Now()
	done := make(chan bool, 1)
	go func() { done <- s.LameDuck(server.MinLameDuckDuration, grace) }()

	l := p1.line(2 * time.Second)
	if !strings.HasPrefix(l, "INFO ") {
		t.Fatalf("protocol 1 client got %q, want INFO", l)
	}
	var info map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(strings.TrimPrefix(l, "INFO "))), &info); err != nil {
		t.Fatalf("INFO %q: %v", l, err)
	}
	if info["ldm"] != true || info["server_id"] != s.ID() {
		t.Fatalf("INFO %v: want ldm true and the server id", info)
	}
	select {
	case <-ldmSeen:
	case <-time.After(2 * time.Second):
		t.Fatal("nats.go did not see the lame duck INFO")
	}
	if !s.InLameDuckMode() {
		t.Fatal("InLameDuckMode false")
	}
	// No new connection is accepted.
	if c, err := net.DialTimeout("tcp", s.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Fatal("a new connection was accepted in lame duck mode")
	}
	// The clients are still served during the grace period.
	if err := nc.Flush(); err != nil && time.Since(start) < grace {
		t.Fatalf("flush during the grace period: %v", err)
	}
	select {
	case ok := <-done:
		if !ok {
			t.Fatal("LameDuck returned false")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("lame duck mode did not end")
	}
	if el := time.Since(start); el < grace {
		t.Fatalf("clients closed after %v, before the grace period", el)
	}
	// The protocol 0 client got no INFO, only the close.
	if got := p0.readAll(); got != "<EOF>" {
		t.Fatalf("protocol 0 client got %q", got)
	}
	if got := p1.readAll(); got != "<EOF>" {
		t.Fatalf("protocol 1 client got %q after INFO", got)
	}
	if n := s.NumClients(); n != 0 {
		t.Fatalf("%d clients left", n)
	}
	for _, want := range []string{"Entering lame duck mode, stop accepting new clients", "Closing existing clients"} {
		if !strings.Contains(logs.String(), want) {
			t.Fatalf("log lacks %q:\n%s", want, logs)
		}
	}
	if s.LameDuck(0, 0) {
		t.Fatal("a second LameDuck ran")
	}
}

// TestLameDuckNoClients returns at once when nobody is connected.
func TestLameDuckNoClients(t *testing.T) {
	s := startServer(t, server.Options{})
	start := time.Now()
	if !s.LameDuck(server.MinLameDuckDuration, 5*time.Second) {
		t.Fatal("LameDuck returned false")
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("took %v with no clients", el)
	}
}

// TestLameDuckInterruptedByShutdown: Shutdown during the grace period
// ends lame duck mode early and closes the clients.
func TestLameDuckInterruptedByShutdown(t *testing.T) {
	s := startServer(t, server.Options{})
	rc := dialRaw(t, s)
	rc.send("CONNECT {\"protocol\":1,\"verbose\":false}\r\nPING\r\n")
	rc.line(time.Second)
	done := make(chan struct{})
	go func() {
		s.LameDuck(time.Hour, 50*time.Minute)
		close(done)
	}()
	rc.line(2 * time.Second) // the INFO
	start := time.Now()
	s.Shutdown()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("LameDuck still running after Shutdown")
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("shutdown took %v", el)
	}
	if got := rc.readAll(); got != "<EOF>" {
		t.Fatalf("client got %q", got)
	}
	if s.LameDuck(0, 0) {
		t.Fatal("LameDuck ran after Shutdown")
	}
}

// TestLameDuckSpreadsCloses: with a short duration and a few clients
// the closes are spread out rather than all at once.
func TestLameDuckSpreadsCloses(t *testing.T) {
	s := startServer(t, server.Options{})
	const n = 4
	conns := make([]*nats.Conn, n)
	closedAt := make(chan time.Time, n)
	for i := range conns {
		nc, err := nats.Connect(s.ClientURL(), nats.NoReconnect(),
			nats.ClosedHandler(func(*nats.Conn) { closedAt <- time.Now() }))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		conns[i] = nc
	}
	// 4 clients over 2s: a pause of 250-500ms between two closes.
	start := time.Now()
	s.LameDuck(2*time.Second+100*time.Millisecond, 100*time.Millisecond)
	var first, last time.Time
	for i := 0; i < n; i++ {
		select {
		case at := <-closedAt:
			if first.IsZero() || at.Before(first) {
				first = at
			}
			if at.After(last) {
				last = at
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of %d clients closed", i, n)
		}
	}
	// At least 3 pauses of 250ms; some slack for the clients' own
	// goroutines on a busy machine (all at once would be ~0).
	if spread := last.Sub(first); spread < 600*time.Millisecond {
		t.Fatalf("closes spread over %v, want about 750ms or more", spread)
	}
	if el := time.Since(start); el > 4*time.Second {
		t.Fatalf("lame duck took %v", el)
	}
}
