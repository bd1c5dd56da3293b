// Command memcost measures what each kind of object costs a server in
// resident memory: a KV key, an idle client connection, a subscription
// and a KV watcher (an ordered push consumer). It runs cairn-server and
// nats-server side by side, alternating round by round, each in a fresh
// process with a fresh store, and prints the median bytes per object of
// each with their ratio. Run it through bench/run-memcost, which builds
// the binaries.
//
// Each phase reads the server's VmRSS from /proc before and after
// creating N objects (after a pause that lets the server settle) and
// divides the growth by N. RSS is what an operator pays for: it includes
// the Go runtime's slack above the live heap, for both servers alike.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/bench/benchserver"
)

// phase creates n objects of one kind against the server at url and
// returns a function that releases them (after the measurement).
type phase struct {
	name string
	n    int
	make func(url string, n int) (release func(), err error)
}

func main() {
	cairnBin := flag.String("cairn", ".tools/cairn-server", "cairn-server binary")
	peerBin := flag.String("peer", ".tools/nats-server", "nats-server binary")
	rounds := flag.Int("rounds", 3, "rounds per server (medians are reported)")
	keys := flag.Int("keys", 200000, "KV keys of 128 B")
	conns := flag.Int("conns", 1000, "idle client connections")
	subs := flag.Int("subs", 100000, "subscriptions on one connection")
	watchers := flag.Int("watchers", 1000, "idle KV watchers on one connection")
	settle := flag.Duration("settle", 2*time.Second, "pause before each RSS reading")
	flag.Parse()

	phases := []phase{
		{"KV key (128 B value)", *keys, makeKeys},
		{"idle connection", *conns, makeConns},
		{"subscription", *subs, makeSubs},
		{"KV watcher (ordered consumer)", *watchers, makeWatchers},
	}
	results := map[string]map[string][]float64{"cairn": {}, "nats-server": {}}
	for r := 0; r < *rounds; r++ {
		order := []string{"cairn", "nats-server"}
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, kind := range order {
			bin := *cairnBin
			if kind == "nats-server" {
				bin = *peerBin
			}
			for _, ph := range phases {
				per, err := measure(kind, bin, ph, *settle)
				if err != nil {
					fmt.Fprintf(os.Stderr, "memcost: %s %s: %v\n", kind, ph.name, err)
					os.Exit(1)
				}
				results[kind][ph.name] = append(results[kind][ph.name], per)
			}
		}
		fmt.Fprintf(os.Stderr, "round %d/%d done\n", r+1, *rounds)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "object\tN\tcairn B/object\tnats-server B/object\tcairn/nats-server\t\n")
	for _, ph := range phases {
		c := benchserver.Median(results["cairn"][ph.name])
		p := benchserver.Median(results["nats-server"][ph.name])
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.2f×\t\n", ph.name, ph.n, c, p, c/p)
	}
	tw.Flush()
}

// measure starts a fresh server, creates the phase's objects and returns
// the RSS growth per object.
func measure(kind, bin string, ph phase, settle time.Duration) (float64, error) {
	p, err := benchserver.Start(kind, bin, benchserver.Options{})
	if err != nil {
		return 0, err
	}
	defer p.Stop()
	pid := p.Cmd.Process.Pid
	time.Sleep(settle)
	before, err := benchserver.RSS(pid)
	if err != nil {
		return 0, err
	}
	release, err := ph.make(p.URL, ph.n)
	if err != nil {
		return 0, err
	}
	defer release()
	time.Sleep(settle)
	after, err := benchserver.RSS(pid)
	if err != nil {
		return 0, err
	}
	return float64(after-before) / float64(ph.n), nil
}

func makeKeys(url string, n int) (func(), error) {
	nc, js, err := connectJS(url)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "mem"}); err != nil {
		nc.Close()
		return nil, err
	}
	val := make([]byte, 128)
	const window = 512
	pending := make([]jetstream.PubAckFuture, 0, window)
	for i := 0; i < n; i++ {
		f, err := js.PublishAsync("$KV.mem.k"+strconv.Itoa(i), val)
		if err != nil {
			nc.Close()
			return nil, err
		}
		pending = append(pending, f)
		if len(pending) == window || i == n-1 {
			for _, f := range pending {
				select {
				case <-f.Ok():
				case err := <-f.Err():
					nc.Close()
					return nil, err
				case <-ctx.Done():
					nc.Close()
					return nil, ctx.Err()
				}
			}
			pending = pending[:0]
		}
	}
	return nc.Close, nil
}

func makeConns(url string, n int) (func(), error) {
	all := make([]*nats.Conn, 0, n)
	release := func() {
		for _, nc := range all {
			nc.Close()
		}
	}
	for i := 0; i < n; i++ {
		nc, err := nats.Connect(url, nats.NoReconnect())
		if err != nil {
			release()
			return nil, err
		}
		all = append(all, nc)
	}
	return release, nil
}

func makeSubs(url string, n int) (func(), error) {
	nc, err := nats.Connect(url, nats.NoReconnect())
	if err != nil {
		return nil, err
	}
	for i := 0; i < n; i++ {
		if _, err := nc.Subscribe("mem.sub."+strconv.Itoa(i), func(*nats.Msg) {}); err != nil {
			nc.Close()
			return nil, err
		}
	}
	if err := nc.Flush(); err != nil {
		nc.Close()
		return nil, err
	}
	return nc.Close, nil
}

func makeWatchers(url string, n int) (func(), error) {
	nc, js, err := connectJS(url)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "mem"})
	if err != nil {
		nc.Close()
		return nil, err
	}
	for i := 0; i < n; i++ {
		w, err := kv.WatchAll(ctx)
		if err != nil {
			nc.Close()
			return nil, err
		}
		<-w.Updates() // the empty bucket's end-of-initial-data marker
	}
	return nc.Close, nil
}

func connectJS(url string) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(url, nats.NoReconnect())
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}
