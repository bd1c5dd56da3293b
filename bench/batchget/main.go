// Command batchget measures point-in-time reads of many KV keys (issue
// 13, batch direct get): a bucket of -keys keys read with orbit.go's
// GetLastMsgsFor against the same keys read with one nats.go kv.Get
// each, on cairn-server and on nats-server, alternating between them
// round by round, and prints the medians in keys per second.
//
//	go build -o .tools/cairn-server ./cmd/cairn-server
//	go run ./bench/batchget -rounds 5 -keys 10000
//
// nats-server refuses a multi_last answer of more than 1024 subjects
// ("413 Too Many Results"), so on it the batch read is made of requests
// of 1,000 literal keys each ("batch of 1000 keys"); Cairn is measured
// both ways and with one request for the whole bucket ("$KV.b.>").
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/cairn-db/cairn/bench/benchserver"
)

// workload reads the n keys of bucket "b" once and returns how many it
// got, or an error.
type workload struct {
	name string
	run  func(ctx context.Context, js jetstream.JetStream, kv jetstream.KeyValue, n int) (int, error)
	peer bool // also run against nats-server
}

var workloads = []workload{
	{name: "kv.Get per key", run: singleGets, peer: true},
	{name: "GetLastMsgsFor, 1000 keys a request", run: lastForChunks, peer: true},
	{name: "GetLastMsgsFor, whole bucket in one", run: lastForAll},
	{name: "raw multi_last, whole bucket in one", run: rawAll},
}

func main() {
	cairnBin := flag.String("cairn", ".tools/cairn-server", "cairn-server binary")
	peerBin := flag.String("peer", ".tools/nats-server", "nats-server binary")
	rounds := flag.Int("rounds", 5, "rounds per server (the median is reported)")
	keys := flag.Int("keys", 10000, "keys in the bucket")
	reps := flag.Int("reps", 3, "reads per workload per round (each timed; all go into the median)")
	flag.Parse()

	results := map[string]map[string][]float64{"cairn": {}, "nats-server": {}}
	for r := 0; r < *rounds; r++ {
		order := []string{"cairn", "nats-server"}
		if r%2 == 1 {
			order = []string{"nats-server", "cairn"}
		}
		for _, kind := range order {
			bin := *cairnBin
			if kind == "nats-server" {
				bin = *peerBin
			}
			if err := round(kind, bin, *keys, *reps, results[kind]); err != nil {
				fmt.Fprintf(os.Stderr, "batchget: %s round %d: %v\n", kind, r+1, err)
				os.Exit(1)
			}
		}
		fmt.Fprintf(os.Stderr, "round %d/%d done\n", r+1, *rounds)
	}
	fmt.Printf("%d keys of 16 bytes, history 1; median of %d alternating rounds × %d reads, keys/s\n\n", *keys, *rounds, *reps)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "read\tcairn\tnats-server\tcairn vs its kv.Get\tnats-server vs its kv.Get\t")
	base := map[string]float64{}
	for kind := range results {
		base[kind] = benchserver.Median(results[kind][workloads[0].name])
	}
	for _, w := range workloads {
		c := benchserver.Median(results["cairn"][w.name])
		peer, peerRatio := "refused (413)", "-"
		if w.peer {
			n := benchserver.Median(results["nats-server"][w.name])
			peer, peerRatio = fmt.Sprintf("%.0f", n), fmt.Sprintf("%.1fx", n/base["nats-server"])
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%.1fx\t%s\t\n", w.name, c, peer, c/base["cairn"], peerRatio)
	}
	tw.Flush()
}

// round starts one server, fills the bucket and times every workload.
func round(kind, bin string, n, reps int, into map[string][]float64) error {
	p, err := benchserver.Start(kind, bin, benchserver.Options{})
	if err != nil {
		return err
	}
	defer p.Stop()
	nc, err := nats.Connect(p.URL)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	kv, err := fill(ctx, js, n)
	if err != nil {
		return err
	}
	for _, w := range workloads {
		if kind == "nats-server" && !w.peer {
			continue
		}
		for i := 0; i < reps; i++ {
			start := time.Now()
			got, err := w.run(ctx, js, kv, n)
			elapsed := time.Since(start)
			if err != nil {
				return fmt.Errorf("%s: %w", w.name, err)
			}
			if got != n {
				return fmt.Errorf("%s: read %d of %d keys", w.name, got, n)
			}
			into[w.name] = append(into[w.name], float64(n)/elapsed.Seconds())
		}
	}
	return nil
}

// fill creates bucket "b" with n keys of 16-byte values (not timed).
func fill(ctx context.Context, js jetstream.JetStream, n int) (jetstream.KeyValue, error) {
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "b"})
	if err != nil {
		return nil, err
	}
	value := []byte("0123456789abcdef")
	for i := 0; i < n; i++ {
		if _, err := js.PublishAsync(key(i), value); err != nil {
			return nil, err
		}
		if i%5000 == 4999 || i == n-1 {
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(time.Minute):
				return nil, fmt.Errorf("fill stalled at %d", i)
			}
		}
	}
	return kv, nil
}

func key(i int) string { return fmt.Sprintf("$KV.b.key%d", i) }

func singleGets(ctx context.Context, _ jetstream.JetStream, kv jetstream.KeyValue, n int) (int, error) {
	for i := 0; i < n; i++ {
		if _, err := kv.Get(ctx, fmt.Sprintf("key%d", i)); err != nil {
			return i, err
		}
	}
	return n, nil
}

// lastForChunks reads the keys with requests of 1000 literal subjects,
// all at the up-to sequence of the first answer's last message, as a
// client must to stay under nats-server's cap and keep one revision.
func lastForChunks(ctx context.Context, js jetstream.JetStream, _ jetstream.KeyValue, n int) (int, error) {
	got := 0
	var upTo uint64
	for from := 0; from < n; from += 1000 {
		subjects := make([]string, 0, 1000)
		for i := from; i < min(from+1000, n); i++ {
			subjects = append(subjects, key(i))
		}
		var opts []jetstreamext.GetLastForOpt
		if upTo == 0 {
			info, err := js.Stream(ctx, "KV_b")
			if err != nil {
				return got, err
			}
			upTo = info.CachedInfo().State.LastSeq
		}
		opts = append(opts, jetstreamext.GetLastMsgsUpToSeq(upTo))
		c, err := count(ctx, js, subjects, opts...)
		got += c
		if err != nil {
			return got, err
		}
	}
	return got, nil
}

func lastForAll(ctx context.Context, js jetstream.JetStream, _ jetstream.KeyValue, _ int) (int, error) {
	return count(ctx, js, []string{"$KV.b.>"})
}

// count runs one GetLastMsgsFor and counts what it yields.
func count(ctx context.Context, js jetstream.JetStream, subjects []string, opts ...jetstreamext.GetLastForOpt) (int, error) {
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	it, err := jetstreamext.GetLastMsgsFor(rctx, js, "KV_b", subjects, opts...)
	if err != nil {
		return 0, err
	}
	got := 0
	for _, err := range it {
		if err != nil {
			return got, err
		}
		got++
	}
	return got, nil
}

// rawAll sends the whole-bucket multi_last request itself and counts the
// answers in a subscription callback, without orbit.go's per-message
// header and time parsing: what the server delivers.
func rawAll(ctx context.Context, js jetstream.JetStream, _ jetstream.KeyValue, _ int) (int, error) {
	nc := js.Conn()
	done := make(chan struct{})
	got := 0
	sub, err := nc.Subscribe(nats.NewInbox(), func(m *nats.Msg) {
		if len(m.Data) == 0 && m.Header.Get("Status") != "" {
			close(done)
			return
		}
		got++
	})
	if err != nil {
		return 0, err
	}
	defer sub.Unsubscribe()
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return 0, err
	}
	if err := nc.PublishRequest("$JS.API.DIRECT.GET.KV_b", sub.Subject, []byte(`{"multi_last":["$KV.b.>"]}`)); err != nil {
		return 0, err
	}
	select {
	case <-done:
		return got, nil
	case <-ctx.Done():
		return got, ctx.Err()
	}
}
