package cluster

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// BenchmarkCrossNodePubSub publishes 128-byte messages on one node to a
// subscriber on another and waits until all arrived.
func BenchmarkCrossNodePubSub(b *testing.B) {
	n1 := startNode(b, Options{ServerName: "n1"}, 0)
	n2 := startNode(b, Options{ServerName: "n2"}, 0, n1.addr())
	waitFor(b, "route", func() bool { return len(n1.cl.Peers()) == 1 })
	sub := n2.connect(b)
	var got atomic.Int64
	if _, err := sub.Subscribe("bench", func(*nats.Msg) { got.Add(1) }); err != nil {
		b.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		b.Fatal(err)
	}
	waitFor(b, "interest", func() bool { return hasRemoteInterest(n1, "n2", "bench") })
	pub := n1.connect(b)
	payload := make([]byte, 128)
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	for range b.N {
		if err := pub.Publish("bench", payload); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for got.Load() < int64(b.N) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got.Load() < int64(b.N) {
		b.Fatalf("received %d of %d", got.Load(), b.N)
	}
}
