package batchget

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// BenchmarkMultiLast10k times one multi_last answer of a 10,000-key
// bucket from the in-process server, counted by a raw subscriber: the
// server's side of a point-in-time read (orbit.go adds its own
// per-message parsing on top).
func BenchmarkMultiLast10k(b *testing.B) {
	const n = 10000
	s := connect(b, "cairn", startCairn(b))
	fillKeys(b, s, "b", n)
	done := make(chan int, 1)
	got := 0
	sub, err := s.nc.Subscribe(nats.NewInbox(), func(m *nats.Msg) {
		if len(m.Data) == 0 && m.Header.Get("Status") != "" {
			done <- got
			got = 0
			return
		}
		got++
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.nc.PublishRequest("$JS.API.DIRECT.GET.KV_b", sub.Subject, []byte(`{"multi_last":["$KV.b.>"]}`)); err != nil {
			b.Fatal(err)
		}
		select {
		case c := <-done:
			if c != n {
				b.Fatalf("%d of %d keys", c, n)
			}
		case <-time.After(30 * time.Second):
			b.Fatal("no end marker")
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "keys/s")
}
