package watch

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkWatchAllInitial times the initial delivery of a WatchAll over
// 100k keys against an in-process daemon (for profiling; the side-by-side
// comparison with nats-server is bench/run).
func BenchmarkWatchAllInitial(b *testing.B) { benchInitial(b, false) }

// BenchmarkKeysInitial is the same for ListKeys (headers-only delivery).
func BenchmarkKeysInitial(b *testing.B) { benchInitial(b, true) }

func benchInitial(b *testing.B, keys bool) {
	d := startDaemon(&testing.T{}, b.TempDir(), -1)
	defer d.Shutdown()
	nc, _ := nats.Connect(d.ClientURL())
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "b"})
	if err != nil {
		b.Fatal(err)
	}
	const n = 100_000
	for i := 0; i < n; i++ {
		js.PublishAsync(fmt.Sprintf("$KV.b.key%d", i), []byte("0123456789abcdef"))
		if i%5000 == 4999 {
			<-js.PublishAsyncComplete()
		}
	}
	<-js.PublishAsyncComplete()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		got := 0
		if keys {
			lister, err := kv.ListKeys(ctx)
			if err != nil {
				b.Fatal(err)
			}
			for range lister.Keys() {
				got++
			}
		} else {
			w, err := kv.WatchAll(ctx)
			if err != nil {
				b.Fatal(err)
			}
			for e := range w.Updates() {
				if e == nil {
					break
				}
				got++
			}
			w.Stop()
		}
		if got != n {
			b.Fatalf("got %d", got)
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "entries/s")
	}
}
