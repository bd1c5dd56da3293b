// Command txn measures KV transactions (issue 13): -ops puts committed as
// one kvtxn transaction (one atomic batch) against the same puts made one
// by one with nats.go's synchronous kv.Put, and a transaction of -ops
// updates each at its revision, on cairn-server and on nats-server,
// alternating between them round by round, and prints the medians in keys
// per second.
//
//	go build -o .tools/cairn-server ./cmd/cairn-server
//	go run ./bench/txn -rounds 5 -reps 20
//	go run ./bench/txn -rounds 5 -reps 20 -sync always
//
// Each round starts a fresh server with a bucket that allows atomic
// batches; every timed repetition writes the same -ops keys again.
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

	"github.com/cairn-db/cairn/bench/benchserver"
	"github.com/cairn-db/cairn/kvtxn"
)

// workload writes the ops keys of bucket "b" once.
type workload struct {
	name string
	run  func(ctx context.Context, js jetstream.JetStream, kv jetstream.KeyValue, keys []string, revs map[string]uint64) error
}

var workloads = []workload{
	{name: "kv.Put per key (synchronous)", run: singlePuts},
	{name: "one transaction of puts", run: txnPuts},
	{name: "one transaction of updates at revisions", run: txnUpdates},
}

var value = []byte("0123456789abcdef0123456789abcdef")

func main() {
	cairnBin := flag.String("cairn", ".tools/cairn-server", "cairn-server binary")
	peerBin := flag.String("peer", ".tools/nats-server", "nats-server binary")
	rounds := flag.Int("rounds", 5, "rounds per server (the median is reported)")
	reps := flag.Int("reps", 20, "timed repetitions per workload per round")
	ops := flag.Int("ops", 100, "keys per transaction (at most the servers' batch limit, 1000)")
	sync := flag.String("sync", "", "sync_interval of both servers (e.g. always); empty: their defaults")
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
			if err := round(kind, bin, *sync, *ops, *reps, results[kind]); err != nil {
				fmt.Fprintf(os.Stderr, "txn: %s round %d: %v\n", kind, r+1, err)
				os.Exit(1)
			}
		}
		fmt.Fprintf(os.Stderr, "round %d/%d done\n", r+1, *rounds)
	}
	syncText := "default sync_interval"
	if *sync != "" {
		syncText = "sync_interval " + *sync
	}
	fmt.Printf("%d keys of %d bytes per repetition, %s; median of %d alternating rounds × %d repetitions, keys/s\n\n",
		*ops, len(value), syncText, *rounds, *reps)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "write\tcairn\tnats-server\tcairn vs its kv.Put\tnats-server vs its kv.Put\tcairn vs nats-server\t")
	base := map[string]float64{}
	for kind := range results {
		base[kind] = benchserver.Median(results[kind][workloads[0].name])
	}
	for _, w := range workloads {
		c := benchserver.Median(results["cairn"][w.name])
		n := benchserver.Median(results["nats-server"][w.name])
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.1fx\t%.1fx\t%.2fx\t\n", w.name, c, n, c/base["cairn"], n/base["nats-server"], c/n)
	}
	tw.Flush()
}

// round starts one server, creates the bucket and times every workload.
func round(kind, bin, sync string, ops, reps int, into map[string][]float64) error {
	p, err := benchserver.Start(kind, bin, benchserver.Options{Sync: sync})
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
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "b"})
	if err != nil {
		return err
	}
	if err := kvtxn.EnableTransactions(ctx, js, "b"); err != nil {
		return err
	}
	keys := make([]string, ops)
	revs := map[string]uint64{}
	for i := range keys {
		keys[i] = fmt.Sprintf("key%d", i)
		if revs[keys[i]], err = kv.Put(ctx, keys[i], value); err != nil { // warm up, and the first revisions
			return err
		}
	}
	for _, w := range workloads {
		for i := 0; i < reps; i++ {
			start := time.Now()
			if err := w.run(ctx, js, kv, keys, revs); err != nil {
				return fmt.Errorf("%s: %w", w.name, err)
			}
			into[w.name] = append(into[w.name], float64(len(keys))/time.Since(start).Seconds())
		}
	}
	return nil
}

func singlePuts(ctx context.Context, _ jetstream.JetStream, kv jetstream.KeyValue, keys []string, revs map[string]uint64) error {
	for _, k := range keys {
		rev, err := kv.Put(ctx, k, value)
		if err != nil {
			return err
		}
		revs[k] = rev
	}
	return nil
}

func txnPuts(ctx context.Context, js jetstream.JetStream, _ jetstream.KeyValue, keys []string, revs map[string]uint64) error {
	tx := kvtxn.Begin(js, "b")
	for _, k := range keys {
		if err := tx.Put(k, value); err != nil {
			return err
		}
	}
	return commit(ctx, tx, revs)
}

func txnUpdates(ctx context.Context, js jetstream.JetStream, _ jetstream.KeyValue, keys []string, revs map[string]uint64) error {
	tx := kvtxn.Begin(js, "b")
	for _, k := range keys {
		if err := tx.Update(k, value, revs[k]); err != nil {
			return err
		}
	}
	return commit(ctx, tx, revs)
}

func commit(ctx context.Context, tx *kvtxn.Txn, revs map[string]uint64) error {
	res, err := tx.Commit(ctx)
	if err != nil {
		return err
	}
	for _, w := range res.Writes {
		revs[w.Key] = w.Revision
	}
	return nil
}
