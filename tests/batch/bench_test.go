package batch

import (
	"context"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/cairn-db/cairn/internal/testserver"
)

// BenchmarkBatchPublish commits batches of 100 messages of 128 bytes
// with orbit.go's PublishMsgBatch into a file stream, on cairn-server
// (run as a process, like the peer) and on nats-server:
//
//	go test ./tests/batch -run '^$' -bench BatchPublish -benchtime 200x
func BenchmarkBatchPublish(b *testing.B) {
	servers := []struct{ name, url string }{
		{"cairn", testserver.StartCairnProcess(b, b.TempDir()).URL},
		{"peer", testserver.StartPeer(b).URL},
	}
	for _, srv := range servers {
		b.Run(srv.name, func(b *testing.B) {
			nc, err := nats.Connect(srv.url)
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			js, _ := jetstream.New(nc)
			ctx := context.Background()
			js.DeleteStream(ctx, "BENCH")
			if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "BENCH", Subjects: []string{"bench.>"}, AllowAtomicPublish: true}); err != nil {
				b.Fatal(err)
			}
			payload := make([]byte, 128)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				msgs := make([]*nats.Msg, 100)
				for j := range msgs {
					msgs[j] = nats.NewMsg(fmt.Sprintf("bench.k%d", j))
					msgs[j].Data = payload
				}
				if _, err := jetstreamext.PublishMsgBatch(ctx, js, msgs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
