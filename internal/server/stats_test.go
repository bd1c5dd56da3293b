package server_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cairn-db/cairn/internal/server"
)

// TestStatsCounts checks the counters behind /varz: messages and bytes
// in and out, connections now and in total, and that the deliveries of
// a closed client stay counted.
func TestStatsCounts(t *testing.T) {
	s := startServer(t, server.Options{})
	before := time.Now()
	pub := connect(t, s)
	subc := connect(t, s)
	sub, err := subc.SubscribeSync("stats.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := subc.Flush(); err != nil {
		t.Fatal(err)
	}
	const n = 25
	for i := 0; i < n; i++ {
		if err := pub.Publish("stats.x", []byte("0123456789")); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		nextMsg(t, sub)
	}
	st := s.Stats()
	if st.InMsgs != n || st.InBytes != 10*n || st.OutMsgs != n || st.OutBytes != 10*n {
		t.Fatalf("in %d/%d out %d/%d, want %d messages of 10 bytes each way", st.InMsgs, st.InBytes, st.OutMsgs, st.OutBytes, n)
	}
	if st.Connections != 2 || st.TotalConnections != 2 {
		t.Fatalf("connections %d, total %d; want 2, 2", st.Connections, st.TotalConnections)
	}
	if st.Start.Before(before.Add(-time.Minute)) || st.ConfigLoadTime.IsZero() {
		t.Fatalf("start %v, config load time %v", st.Start, st.ConfigLoadTime)
	}
	subc.Close()
	waitFor(t, func() bool { return s.Stats().Connections == 1 })
	st = s.Stats()
	if st.OutMsgs != n || st.TotalConnections != 2 {
		t.Fatalf("after close: out %d, total connections %d; want %d, 2", st.OutMsgs, st.TotalConnections, n)
	}
}

// TestSettingsNoSecrets checks that Settings reports authentication as
// required without carrying anything of the credentials.
func TestSettingsNoSecrets(t *testing.T) {
	opts := server.Options{}
	opts.Auth.User, opts.Auth.Password = "alice", "s3cret"
	s := startServer(t, opts)
	st := s.Settings()
	if !st.AuthRequired || st.Port != s.Addr().Port || st.PingInterval != server.DefaultPingInterval {
		t.Fatalf("settings %+v", st)
	}
}

// BenchmarkPubSubCounted publishes 16-byte messages from one nats.go
// client to another through the server, counters included: the cost of
// the /varz counters is measured by running it before and after them
// (docs/PERFORMANCE.md, "Monitoring counters").
func BenchmarkPubSubCounted(b *testing.B) {
	s := startServer(b, server.Options{})
	pub := connect(b, s)
	subc := connect(b, s)
	var got atomic.Int64
	done := make(chan struct{})
	n := int64(b.N)
	if _, err := subc.Subscribe("bench.x", func(*nats.Msg) {
		if got.Add(1) == n {
			close(done)
		}
	}); err != nil {
		b.Fatal(err)
	}
	if err := subc.Flush(); err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 16)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := pub.Publish("bench.x", payload); err != nil {
			b.Fatal(err)
		}
	}
	if err := pub.Flush(); err != nil {
		b.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		b.Fatalf("%d of %d messages delivered", got.Load(), n)
	}
}
