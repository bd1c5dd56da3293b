package cluster

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestKVRouteCut: three nodes whose n1–n2 route goes through the
// fault-injecting proxy (n1 dials n3 only, as a JetStream nats-server
// needs a route to dial; n2 dials n1 through the proxy and n3; n3 dials
// both). While a client of n2 writes to buckets and a
// client of n1 reads them, the route is cut and held down, twice. The
// clients get errors or timeouts but never wrong data; every
// acknowledged write is there afterwards, from every node; once the
// route is back every bucket is reachable from every node.
func TestKVRouteCut(t *testing.T) {
	t.Parallel()
	onBoth(t, func(t *testing.T, k kind) {
		t.Parallel()
		bin := k.bin(t)
		mk := func(name string) *node {
			return &node{name: name, bin: bin, clientPort: freePort(t), routePort: freePort(t), dir: t.TempDir(), js: true}
		}
		n1, n2, n3 := mk("n1"), mk("n2"), mk("n3")
		px := startProxy(t, fmt.Sprintf("127.0.0.1:%d", n1.routePort))
		n1.routes = []string{n3.routeURL()}
		n2.routes = []string{px.URL(), n3.routeURL()}
		n3.routes = []string{n1.routeURL(), n2.routeURL()}
		nodes := []*node{n1, n2, n3}
		for _, n := range nodes {
			n.start(t)
		}
		for _, n := range nodes {
			waitFormed(t, n, nodes)
		}
		for _, n := range nodes {
			waitJS(t, n)
		}
		js := []jetstream.JetStream{jsOn(t, n1), jsOn(t, n2), jsOn(t, n3)}
		buckets := []string{"cut0", "cut1", "cut2"}
		for i, b := range buckets {
			if _, err := js[i].CreateKeyValue(ctxT(t, 5*time.Second), jetstream.KeyValueConfig{Bucket: b}); err != nil {
				t.Fatalf("create %s: %v", b, err)
			}
			visible(t, js, b)
			t.Logf("%s: %s held by %s", k.name, b, holderOf(t, js[i], b))
		}
		wl := startWorkload(t, js[1], js[0], buckets)
		for round := range 2 {
			px.refusing.Store(true)
			if n := px.cut(); n == 0 {
				t.Fatalf("round %d: no route through the proxy to cut", round)
			}
			// Hold the route down while the workload makes 12 more
			// attempts, then let it back; the workload makes progress
			// again.
			wl.waitAttempts(t, 12)
			px.refusing.Store(false)
			for _, n := range nodes {
				waitFormed(t, n, nodes)
			}
			wl.waitAcks(t, 12)
		}
		acks, failures, reads := wl.stop()
		t.Logf("workload: %d acknowledged writes, %d failed or timed out, %d reads checked", len(acks), failures, reads)
		if len(acks) == 0 {
			t.Fatal("no write was acknowledged")
		}
		names := []string{"n1", "n2", "n3"}
		healed := time.Now()
		for _, b := range buckets {
			waitFor(t, 30*time.Second, b+" reachable from every node", func() bool {
				for i := range js {
					if !reachable(js[i], b) {
						return false
					}
				}
				return true
			})
			checkWorks(t, js, names, b, "healed")
		}
		t.Logf("%s: every bucket reachable from every node %v after the route came back", k.name, time.Since(healed).Round(time.Millisecond))
		for w, rev := range acks {
			for i := range js {
				e, err := kvOn(t, js[i], w.bucket).Get(ctxT(t, 5*time.Second), w.key)
				if err != nil || e.Revision() != rev || string(e.Value()) != w.key {
					t.Fatalf("acknowledged %s/%s rev %d on %s: %s %v", w.bucket, w.key, rev, names[i], entryText(e), err)
				}
			}
		}
	})
}

// write names one key of the workload; its value is its key.
type written struct{ bucket, key string }

// workload writes distinct keys (value = key) from one client and reads
// back acknowledged ones from another, until stopped.
type workload struct {
	stopc    chan struct{}
	done     chan struct{}
	attempts atomic.Int64

	acked atomic.Int64

	mu       sync.Mutex
	acks     map[written]uint64
	failures int
	reads    int
	wrong    []string
}

func startWorkload(t *testing.T, writer, reader jetstream.JetStream, buckets []string) *workload {
	w := &workload{stopc: make(chan struct{}), done: make(chan struct{}), acks: map[written]uint64{}}
	kvs := func(js jetstream.JetStream) []jetstream.KeyValue {
		var out []jetstream.KeyValue
		for _, b := range buckets {
			out = append(out, kvOn(t, js, b))
		}
		return out
	}
	wkv, rkv := kvs(writer), kvs(reader)
	go func() {
		defer close(w.done)
		for i := 0; ; i++ {
			select {
			case <-w.stopc:
				return
			default:
			}
			b := i % len(buckets)
			key := fmt.Sprintf("w%d", i)
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			rev, err := wkv[b].Put(ctx, key, []byte(key))
			cancel()
			w.attempts.Add(1)
			w.mu.Lock()
			if err != nil {
				w.failures++
				w.mu.Unlock()
				continue
			}
			w.acks[written{buckets[b], key}] = rev
			w.mu.Unlock()
			w.acked.Add(1)
			// Read it back through the other node: an error is fine, a
			// wrong answer is not.
			ctx, cancel = context.WithTimeout(context.Background(), 500*time.Millisecond)
			e, err := rkv[b].Get(ctx, key)
			cancel()
			if err == nil {
				w.mu.Lock()
				w.reads++
				if e.Revision() != rev || string(e.Value()) != key {
					w.wrong = append(w.wrong, fmt.Sprintf("%s/%s rev %d read as %s", buckets[b], key, rev, entryText(e)))
				}
				w.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		select {
		case <-w.stopc:
		default:
			close(w.stopc)
		}
		<-w.done
		if len(w.wrong) > 0 {
			t.Errorf("wrong data read during the workload: %v", w.wrong)
		}
	})
	return w
}

// waitAttempts waits (bounded) until the workload has made n more
// attempts.
func (w *workload) waitAttempts(t *testing.T, n int64) {
	t.Helper()
	target := w.attempts.Load() + n
	waitFor(t, 60*time.Second, "workload attempts", func() bool { return w.attempts.Load() >= target })
}

// waitAcks waits (bounded) until the workload has had n more writes
// acknowledged.
func (w *workload) waitAcks(t *testing.T, n int64) {
	t.Helper()
	target := w.acked.Load() + n
	waitFor(t, 60*time.Second, "workload acknowledgements", func() bool { return w.acked.Load() >= target })
}

// stop ends the workload and returns what it saw.
func (w *workload) stop() (acks map[written]uint64, failures, reads int) {
	close(w.stopc)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.acks, w.failures, w.reads
}

// reachable reports whether bucket can be opened and written through js
// within a second each.
func reachable(js jetstream.JetStream, bucket string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		return false
	}
	_, err = kv.Put(ctx, "probe", []byte("p"))
	return err == nil
}
