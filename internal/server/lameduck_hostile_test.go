package server_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cairn-db/cairn/internal/server"
)

// TestLameDuckGraceJustBelowDuration: the configuration accepts any
// grace period strictly below the duration, so the time left to close
// the clients in may be below a millisecond. Lame duck mode still
// closes them all and returns (it divided by that time in whole
// milliseconds, zero, and the server crashed).
func TestLameDuckGraceJustBelowDuration(t *testing.T) {
	s := startServer(t, server.Options{})
	const n = 3
	closed := make(chan struct{}, n)
	for range n {
		nc, err := nats.Connect(s.ClientURL(), nats.NoReconnect(),
			nats.ClosedHandler(func(*nats.Conn) { closed <- struct{}{} }))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
	}
	const grace = 100 * time.Millisecond
	if !s.LameDuck(grace+500*time.Microsecond, grace) {
		t.Fatal("lame duck mode did not start")
	}
	for i := range n {
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of %d clients closed", i, n)
		}
	}
}
