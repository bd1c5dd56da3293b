package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/bench/benchserver"
)

// watchWorkloads measures KV watchers: the initial delivery of WatchAll
// and of Keys over buckets of each size in sizes, update fan-out latency
// to 100 watchers, and the server's memory with 1,000 idle watchers.
func watchWorkloads(sizes string) []workload {
	var ws []workload
	for _, f := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			continue
		}
		ws = append(ws,
			workload{name: fmt.Sprintf("watch all initial %dk keys", n/1000), unit: "entries/s",
				run: func(p *benchserver.Process, _ time.Duration) (float64, error) {
					return initialDelivery(p.URL, n, false)
				}},
			workload{name: fmt.Sprintf("keys %dk keys", n/1000), unit: "keys/s",
				run: func(p *benchserver.Process, _ time.Duration) (float64, error) { return initialDelivery(p.URL, n, true) }},
		)
	}
	return append(ws,
		workload{name: "update to 100 watchers p50", unit: "µs", lowerBetter: true, run: fanoutLatency},
		workload{name: "1000 watchers idle, then 20 updates", unit: "MiB RSS growth", lowerBetter: true, run: idleWatcherMemory},
	)
}

func connectJS(url string) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(url)
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

// fill creates bucket with n keys of 16-byte values, publishing
// asynchronously (not timed).
func fill(ctx context.Context, js jetstream.JetStream, bucket string, n int) (jetstream.KeyValue, error) {
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket})
	if err != nil {
		return nil, err
	}
	value := []byte("0123456789abcdef")
	for i := 0; i < n; i++ {
		if _, err := js.PublishAsync(fmt.Sprintf("$KV.%s.key%d", bucket, i), value); err != nil {
			return nil, err
		}
		if i%5000 == 4999 {
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(time.Minute):
				return nil, fmt.Errorf("fill stalled at %d", i)
			}
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		return nil, fmt.Errorf("fill did not complete")
	}
	return kv, nil
}

// initialDelivery fills a bucket with n keys, then times a WatchAll until
// its end-of-initial-data marker (or Keys, when keys is set) and returns
// entries per second.
func initialDelivery(url string, n int, keys bool) (float64, error) {
	nc, js, err := connectJS(url)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bucket := fmt.Sprintf("w%d%v", n, keys)
	kv, err := fill(ctx, js, bucket, n)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	got := 0
	if keys {
		lister, err := kv.ListKeys(ctx)
		if err != nil {
			return 0, err
		}
		for range lister.Keys() {
			got++
		}
	} else {
		w, err := kv.WatchAll(ctx)
		if err != nil {
			return 0, err
		}
		for e := range w.Updates() {
			if e == nil {
				break
			}
			got++
		}
		w.Stop()
	}
	elapsed := time.Since(start)
	if got != n {
		return 0, fmt.Errorf("received %d of %d", got, n)
	}
	_ = js.DeleteKeyValue(ctx, bucket)
	return float64(n) / elapsed.Seconds(), nil
}

// fanoutLatency starts 100 watchers on one bucket, then times 200
// updates from the put until each watcher has it, and returns the median
// over all deliveries in microseconds.
func fanoutLatency(p *benchserver.Process, _ time.Duration) (float64, error) {
	nc, js, err := connectJS(p.URL)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "fanout"})
	if err != nil {
		return 0, err
	}
	const watchers, updates = 100, 200
	var mu sync.Mutex
	var lat []time.Duration
	sent := make([]time.Time, updates+1)
	var wg sync.WaitGroup
	var stops []jetstream.KeyWatcher
	for i := 0; i < watchers; i++ {
		// One connection per watcher, as separate clients would have.
		wnc, err := nats.Connect(p.URL)
		if err != nil {
			return 0, err
		}
		defer wnc.Close()
		wjs, _ := jetstream.New(wnc)
		wkv, err := wjs.KeyValue(ctx, "fanout")
		if err != nil {
			return 0, err
		}
		w, err := wkv.WatchAll(ctx, jetstream.UpdatesOnly())
		if err != nil {
			return 0, err
		}
		stops = append(stops, w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < updates; n++ {
				e := <-w.Updates()
				if e == nil {
					return
				}
				now := time.Now()
				mu.Lock()
				lat = append(lat, now.Sub(sent[e.Revision()]))
				mu.Unlock()
			}
		}()
	}
	for rev := 1; rev <= updates; rev++ {
		mu.Lock()
		sent[rev] = time.Now()
		mu.Unlock()
		// A new key each time: with history 1, a watcher that lags would
		// legitimately skip a superseded revision of the same key.
		if _, err := kv.Put(ctx, fmt.Sprintf("k%d", rev), []byte("v")); err != nil {
			return 0, err
		}
		time.Sleep(2 * time.Millisecond) // one update at a time: latency, not throughput
	}
	wg.Wait()
	for _, w := range stops {
		_ = w.Stop()
	}
	if len(lat) != watchers*updates {
		return 0, fmt.Errorf("got %d deliveries, want %d", len(lat), watchers*updates)
	}
	slices.Sort(lat)
	return float64(lat[len(lat)/2].Microseconds()), nil
}

// idleWatcherMemory returns how much the server's resident memory grows
// when 1,000 watchers sit on one bucket, and then checks that each of
// them receives every one of 20 updates in order.
func idleWatcherMemory(p *benchserver.Process, _ time.Duration) (float64, error) {
	nc, js, err := connectJS(p.URL)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "idle"})
	if err != nil {
		return 0, err
	}
	before, err := rssMiB(p.Cmd.Process.Pid)
	if err != nil {
		return 0, err
	}
	var ws []jetstream.KeyWatcher
	for i := 0; i < 1000; i++ {
		w, err := kv.WatchAll(ctx)
		if err != nil {
			return 0, err
		}
		if e := <-w.Updates(); e != nil {
			return 0, fmt.Errorf("expected the end-of-initial-data marker")
		}
		ws = append(ws, w)
	}
	after, err := rssMiB(p.Cmd.Process.Pid)
	if err != nil {
		return 0, err
	}
	// Then every one of the 1,000 receives every update, in order.
	const updates = 20
	for i := 1; i <= updates; i++ {
		if _, err := kv.Put(ctx, fmt.Sprintf("k%d", i), []byte("v")); err != nil {
			return 0, err
		}
	}
	for i, w := range ws {
		for rev := uint64(1); rev <= updates; rev++ {
			select {
			case e := <-w.Updates():
				if e == nil || e.Revision() != rev {
					return 0, fmt.Errorf("watcher %d: got %v, want revision %d", i, e, rev)
				}
			case <-time.After(30 * time.Second):
				return 0, fmt.Errorf("watcher %d: revision %d did not arrive", i, rev)
			}
		}
		_ = w.Stop()
	}
	return after - before, nil
}

// rssMiB reads a process's resident set size from /proc.
func rssMiB(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, err := strconv.Atoi(f[1])
			return float64(kb) / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}
