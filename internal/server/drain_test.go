package server_test

import (
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/server"
)

// TestWaitDrained: an in-process sender pacing itself to a client that
// reads waits only for the client's writer; to a client that stops
// reading it waits at most the write deadline each time, and once that
// client is cut off as a slow consumer it is told nobody listens.
func TestWaitDrained(t *testing.T) {
	s := startServer(t, server.Options{WriteDeadline: 300 * time.Millisecond, MaxPending: 4 << 20})
	acc := s.Account(server.GlobalAccount)
	if acc.WaitDrained("nobody.here", 0) {
		t.Fatal("a subject without subscriptions reported as listened to")
	}

	// A reader: 8 MiB in 64 KiB messages, waiting whenever 1 MiB is
	// queued, all arrive and it never looks gone.
	reader := dialRaw(t, s)
	reader.send("CONNECT {\"verbose\":false}\r\nSUB fast 1\r\nPING\r\n")
	if l := reader.line(2 * time.Second); l != "PONG\r\n" {
		t.Fatalf("reader: %q", l)
	}
	got := make(chan int, 1)
	go func() {
		buf := make([]byte, 1<<16)
		n := 0
		reader.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		for n < 128*(1<<16) {
			k, err := reader.r.Read(buf)
			if err != nil {
				break
			}
			n += k
		}
		got <- n
	}()
	payload := make([]byte, 1<<16)
	for i := range 128 {
		acc.Publish("fast", "", nil, payload)
		if i%16 == 15 && !acc.WaitDrained("fast", 1<<20) {
			t.Fatal("the reader looked gone")
		}
	}
	if n := <-got; n < 128*(1<<16) {
		t.Fatalf("reader got %d bytes", n)
	}

	// A client that never reads: each wait ends by the write deadline,
	// and once MaxPending is passed the client is closed and the sender
	// told so.
	stuck := dialRaw(t, s)
	stuck.send("CONNECT {\"verbose\":false}\r\nSUB slow 1\r\nPING\r\n")
	if l := stuck.line(2 * time.Second); l != "PONG\r\n" {
		t.Fatalf("stuck: %q", l)
	}
	deadline := time.Now().Add(30 * time.Second)
	for listening := true; listening; {
		if time.Now().After(deadline) {
			t.Fatal("a client that never reads was never reported gone")
		}
		acc.Publish("slow", "", nil, payload)
		start := time.Now()
		listening = acc.WaitDrained("slow", 1<<16)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("one wait took %v, past the write deadline", d)
		}
	}
}
