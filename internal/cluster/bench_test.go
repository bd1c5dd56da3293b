package cluster

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cairn-db/cairn/internal/server"
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

// BenchmarkCrossNodeInProcess publishes 128-byte messages on one node
// to a cluster-visible in-process subscriber on another (the route's
// worker goroutine runs it) and waits until all arrived.
func BenchmarkCrossNodeInProcess(b *testing.B) {
	n1 := startNode(b, Options{ServerName: "n1"}, 0)
	n2 := startNode(b, Options{ServerName: "n2"}, 0, n1.addr())
	waitFor(b, "route", func() bool { return len(n1.cl.Peers()) == 1 })
	var got atomic.Int64
	if _, err := global(n2).Subscribe("bench", "", func(*server.Msg) { got.Add(1) }); err != nil {
		b.Fatal(err)
	}
	waitFor(b, "interest", func() bool { return hasRemoteInterest(n1, "n2", "bench") })
	pub := n1.connect(b)
	payload := make([]byte, 128)
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	for i := range b.N {
		if err := pub.Publish("bench", payload); err != nil {
			b.Fatal(err)
		}
		// Keep at most 64Ki messages in flight: past the worker's
		// queue bound for long, the route would be cut.
		for i%1024 == 1023 && got.Load() < int64(i-1<<16) {
			time.Sleep(100 * time.Microsecond)
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
