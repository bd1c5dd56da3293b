package compat

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/internal/testserver"
)

// Durability through the real binary: cairn-server is killed with
// SIGKILL while clients put, restarted on the same directory, and every
// acknowledged put must be there.

// startProcess runs the real cairn-server binary over dir with extra
// flags; it is killed when t ends.
func startProcess(t *testing.T, dir string, args ...string) *testserver.Process {
	t.Helper()
	return testserver.StartCairnProcess(t, dir, args...)
}

type acked struct {
	key string
	rev uint64
	val string
}

// putUntilKilled runs writers putting unique keys until the server is
// killed, then returns every acknowledged put.
func putUntilKilled(t *testing.T, p *testserver.Process, bucket string, writers int, before func()) []acked {
	t.Helper()
	js := newJS(t, p.URL)
	kv := createKV(t, js, jetstream.KeyValueConfig{Bucket: bucket})
	var (
		mu   sync.Mutex
		acks []acked
		wg   sync.WaitGroup
	)
	stop := make(chan struct{})
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key, val := fmt.Sprintf("w%d.k%d", w, i), fmt.Sprintf("value-%d-%d", w, i)
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				rev, err := kv.Put(ctx, key, []byte(val))
				cancel()
				if err != nil {
					return // the server is gone
				}
				mu.Lock()
				acks = append(acks, acked{key, rev, val})
				mu.Unlock()
			}
		}()
	}
	eventually(t, 10*time.Second, "some acknowledged puts", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acks) >= 300
	})
	before()
	p.Kill()
	close(stop)
	wg.Wait()
	return acks
}

func checkAcked(t *testing.T, url, bucket string, acks []acked) {
	t.Helper()
	kv, err := newJS(t, url).KeyValue(ctxT(t), bucket)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range acks {
		e, err := kv.Get(ctxT(t), a.key)
		if err != nil || e.Revision() != a.rev || string(e.Value()) != a.val {
			t.Fatalf("acknowledged put %s rev %d lost after kill -9: %v %v", a.key, a.rev, e, err)
		}
	}
	t.Logf("%d acknowledged puts survived kill -9", len(acks))
}

func TestKillNineSyncAlways(t *testing.T) {
	if usePeer() {
		t.Skip("cairn-server only")
	}
	dir := t.TempDir()
	p := startProcess(t, dir, "--sync_interval", "always")
	acks := putUntilKilled(t, p, "durable", 4, func() {})
	p = startProcess(t, dir, "--sync_interval", "always")
	checkAcked(t, p.URL, "durable", acks)
}

func TestKillNineDefaultSync(t *testing.T) {
	if usePeer() {
		t.Skip("cairn-server only")
	}
	dir := t.TempDir()
	p := startProcess(t, dir)
	kv := createKV(t, newJS(t, p.URL), jetstream.KeyValueConfig{Bucket: "relaxed"})
	var acks []acked
	for i := 0; i < 300; i++ {
		key := fmt.Sprintf("k%d", i)
		rev, err := kv.Put(ctxT(t), key, []byte(key))
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, acked{key, rev, key})
	}
	// Under the default policy a put is in the operating system before
	// it is acknowledged (docs/STORE.md), so a process crash right after
	// the last acknowledgement loses none of them.
	p.Kill()
	p = startProcess(t, dir)
	checkAcked(t, p.URL, "relaxed", acks)
}
