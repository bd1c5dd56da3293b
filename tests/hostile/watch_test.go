package hostile

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Watch snapshots (issue 9, "Exact watch snapshots"): the initial data of
// a watch is exactly the last entry of every key at the watch's
// creation, so the end-of-initial-data marker means "every key that
// existed then was delivered", once, with its value then. The hostile
// client rewrites keys as fast as it can and deletes keys right after
// each watch is created.

// hotWriter rewrites its keys with increasing values until stopped.
type hotWriter struct {
	kv   jetstream.KeyValue
	keys []string
	stop chan struct{}
	done chan struct{}
	err  error
	puts int
}

func startHotWriter(kv jetstream.KeyValue, keys []string) *hotWriter {
	w := &hotWriter{kv: kv, keys: keys, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := kv.Put(ctx, keys[i%len(keys)], []byte(strconv.Itoa(i)))
			cancel()
			if err != nil {
				w.err = err
				return
			}
			w.puts++
		}
	}()
	return w
}

func (w *hotWriter) halt(t *testing.T) {
	t.Helper()
	close(w.stop)
	<-w.done
	if w.err != nil {
		t.Fatalf("writer: %v", w.err)
	}
}

// watchInitial reads a watcher's updates up to its nil marker.
func watchInitial(t *testing.T, w jetstream.KeyWatcher) []jetstream.KeyValueEntry {
	t.Helper()
	var out []jetstream.KeyValueEntry
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				t.Fatalf("watcher closed after %d entries, before the end of its initial data", len(out))
			}
			if e == nil {
				return out
			}
			out = append(out, e)
		case <-timeout.C:
			t.Fatalf("no end of the initial data after %d entries", len(out))
		}
	}
}

// watchStop stops a watcher and drains its updates until nats.go
// closes them, so that its delivery goroutine, which may be blocked on a
// full channel, ends.
func watchStop(t *testing.T, w jetstream.KeyWatcher) {
	t.Helper()
	if err := w.Stop(); err != nil {
		t.Fatal(err)
	}
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case _, ok := <-w.Updates():
			if !ok {
				return
			}
		case <-timeout.C:
			t.Fatal("watcher updates not closed after Stop")
		}
	}
}

func watchLastSeq(t *testing.T, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

func TestWatchSnapshotExact(t *testing.T) {
	tg := start(t)
	_, js := newJS(t, tg.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// History 1: a rewrite or a delete removes the previous revision, so
	// a snapshot that is not pinned loses it.
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "snap", History: 1})
	if err != nil {
		t.Fatal(err)
	}
	const static, hot, doomedPerRound, rounds = 2000, 20, 10, 12
	for i := range static {
		if _, err := kv.Put(ctx, "s."+strconv.Itoa(i), []byte("static")); err != nil {
			t.Fatal(err)
		}
	}
	var hotKeys []string
	for i := range hot {
		hotKeys = append(hotKeys, "h."+strconv.Itoa(i))
		if _, err := kv.Put(ctx, hotKeys[i], []byte("first")); err != nil {
			t.Fatal(err)
		}
	}
	// Two writers on their own connections, each on half the hot keys.
	var writers []*hotWriter
	for i := range 2 {
		_, wjs := newJS(t, tg.URL)
		wkv, err := wjs.KeyValue(ctx, "snap")
		if err != nil {
			t.Fatal(err)
		}
		writers = append(writers, startHotWriter(wkv, hotKeys[i*hot/2:(i+1)*hot/2]))
	}
	deleted := map[string]bool{}
	for r := range rounds {
		var doomed []string
		for i := range doomedPerRound {
			k := fmt.Sprintf("d.%d.%d", r, i)
			if _, err := kv.Put(ctx, k, []byte("alive")); err != nil {
				t.Fatal(err)
			}
			doomed = append(doomed, k)
		}
		before := watchLastSeq(t, js, "KV_snap")
		w, err := kv.WatchAll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		after := watchLastSeq(t, js, "KV_snap")
		// Deleted after creation: still in the initial data, alive.
		for _, k := range doomed {
			if err := kv.Delete(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		initial := watchInitial(t, w)
		watchCheckSnapshot(t, r, initial, before, after, static, hotKeys, doomed, deleted)
		watchStop(t, w)
		for _, k := range doomed {
			deleted[k] = true
		}
	}
	for _, w := range writers {
		w.halt(t)
		t.Logf("writer: %d puts", w.puts)
	}
}

// watchCheckSnapshot checks one watcher's initial data, taken while the last
// sequence went from before to after.
func watchCheckSnapshot(t *testing.T, round int, initial []jetstream.KeyValueEntry, before, after uint64, static int, hotKeys, doomed []string, deleted map[string]bool) {
	t.Helper()
	seen := map[string]jetstream.KeyValueEntry{}
	var prev uint64
	for _, e := range initial {
		if _, dup := seen[e.Key()]; dup {
			t.Fatalf("round %d: key %s twice in the initial data (revisions %d and %d)", round, e.Key(), seen[e.Key()].Revision(), e.Revision())
		}
		if e.Revision() <= prev {
			t.Fatalf("round %d: revision %d after %d: out of order", round, e.Revision(), prev)
		}
		if e.Revision() > after {
			t.Fatalf("round %d: key %s at revision %d, written after the watch was created (last sequence %d)", round, e.Key(), e.Revision(), after)
		}
		seen[e.Key()], prev = e, e.Revision()
	}
	want := static + len(hotKeys) + len(doomed) + len(deleted)
	if len(seen) != want {
		t.Fatalf("round %d: initial data holds %d keys, want %d (last sequence %d..%d)", round, len(seen), want, before, after)
	}
	for i := range static {
		k := "s." + strconv.Itoa(i)
		if e, ok := seen[k]; !ok || string(e.Value()) != "static" || e.Operation() != jetstream.KeyValuePut {
			t.Fatalf("round %d: static key %s missing or wrong: %v", round, k, e)
		}
	}
	for _, k := range hotKeys {
		if e, ok := seen[k]; !ok || e.Operation() != jetstream.KeyValuePut {
			t.Fatalf("round %d: rewritten key %s missing from the initial data", round, k)
		}
	}
	for _, k := range doomed {
		if e, ok := seen[k]; !ok || string(e.Value()) != "alive" || e.Operation() != jetstream.KeyValuePut {
			t.Fatalf("round %d: key %s, deleted after the watch was created, not in the initial data as it was then: %v", round, k, e)
		}
	}
	for k := range deleted {
		if e, ok := seen[k]; !ok || e.Operation() != jetstream.KeyValueDelete {
			t.Fatalf("round %d: key %s, deleted before the watch, not in the initial data as a delete: %v", round, k, e)
		}
	}
}

// TestWatchLiveGuarantees: while four writers run, watchers created
// before and during the writes see every revision after their initial
// data, in order, once each (history is large enough that nothing is
// removed), and a watcher matching nothing sees nothing.
func TestWatchLiveGuarantees(t *testing.T) {
	tg := start(t)
	_, js := newJS(t, tg.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "live", History: 64})
	if err != nil {
		t.Fatal(err)
	}
	const writers, keysPerWriter, revisions = 4, 5, 40 // 40 revisions per key < history
	early, err := kv.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	idle, err := kv.Watch(ctx, "nomatch.>")
	if err != nil {
		t.Fatal(err)
	}
	if got := watchInitial(t, early); len(got) != 0 {
		t.Fatalf("empty bucket, initial data %d entries", len(got))
	}
	if got := watchInitial(t, idle); len(got) != 0 {
		t.Fatalf("empty bucket, idle watcher initial data %d entries", len(got))
	}
	var mu sync.Mutex
	acked := map[uint64]string{} // revision → key
	var wg sync.WaitGroup
	var failed error
	midway := make(chan struct{})
	var midwayOnce sync.Once
	passMidway := func() { midwayOnce.Do(func() { close(midway) }) }
	for wi := range writers {
		_, wjs := newJS(t, tg.URL)
		wkv, err := wjs.KeyValue(ctx, "live")
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer passMidway() // also when a writer fails early
			for i := range keysPerWriter * revisions {
				k := fmt.Sprintf("w%d.k%d", wi, i%keysPerWriter)
				rev, err := wkv.Put(ctx, k, []byte(strconv.Itoa(i)))
				mu.Lock()
				if err != nil && failed == nil {
					failed = err
				}
				acked[rev] = k
				mu.Unlock()
				if err != nil {
					return
				}
				if wi == 0 && i == keysPerWriter*revisions/2 {
					passMidway()
				}
			}
		}()
	}
	<-midway
	late, err := kv.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lateInitial := watchInitial(t, late)
	wg.Wait()
	if failed != nil {
		t.Fatal(failed)
	}
	total := uint64(writers * keysPerWriter * revisions)
	watchCheckLive(t, "early", early, nil, acked, total)
	watchCheckLive(t, "late", late, lateInitial, acked, total)
	select {
	case e := <-idle.Updates():
		t.Fatalf("watcher of nomatch.> received %v", e)
	default:
	}
	for _, w := range []jetstream.KeyWatcher{early, late, idle} {
		watchStop(t, w)
	}
}

// watchCheckLive reads w's live updates until the last revision: every
// revision after each key's initial one arrives in order, exactly once.
func watchCheckLive(t *testing.T, name string, w jetstream.KeyWatcher, initial []jetstream.KeyValueEntry, acked map[uint64]string, last uint64) {
	t.Helper()
	from := map[string]uint64{} // key → revision in the initial data
	for _, e := range initial {
		from[e.Key()] = e.Revision()
	}
	want := map[uint64]bool{}
	for rev, k := range acked {
		if rev > from[k] {
			want[rev] = true
		}
	}
	var prev uint64
	got := 0
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for prev < last {
		select {
		case e, ok := <-w.Updates():
			if !ok || e == nil {
				t.Fatalf("%s watcher: closed or a second marker after revision %d", name, prev)
			}
			if e.Revision() <= prev {
				t.Fatalf("%s watcher: revision %d after %d: out of order or duplicate", name, e.Revision(), prev)
			}
			if !want[e.Revision()] || acked[e.Revision()] != e.Key() {
				t.Fatalf("%s watcher: unexpected revision %d of %s", name, e.Revision(), e.Key())
			}
			prev = e.Revision()
			got++
		case <-timeout.C:
			t.Fatalf("%s watcher: stuck at revision %d of %d", name, prev, last)
		}
	}
	if got != len(want) {
		t.Fatalf("%s watcher: %d live revisions, want %d: gaps", name, got, len(want))
	}
}

// TestWatchHistoryInitialComplete: a watch with history (deliver policy
// all) created while keys are rewritten ends its initial data only after
// every key that existed at creation, in order, each revision once.
func TestWatchHistoryInitialComplete(t *testing.T) {
	tg := start(t)
	_, js := newJS(t, tg.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "hist", History: 3})
	if err != nil {
		t.Fatal(err)
	}
	const static, hot, rounds = 1500, 10, 5
	var hotKeys []string
	for i := range hot {
		hotKeys = append(hotKeys, "h."+strconv.Itoa(i))
		if _, err := kv.Put(ctx, hotKeys[i], []byte("first")); err != nil {
			t.Fatal(err)
		}
	}
	for i := range static {
		if _, err := kv.Put(ctx, "s."+strconv.Itoa(i), []byte("static")); err != nil {
			t.Fatal(err)
		}
	}
	_, wjs := newJS(t, tg.URL)
	wkv, err := wjs.KeyValue(ctx, "hist")
	if err != nil {
		t.Fatal(err)
	}
	writer := startHotWriter(wkv, hotKeys)
	for r := range rounds {
		w, err := kv.WatchAll(ctx, jetstream.IncludeHistory())
		if err != nil {
			t.Fatal(err)
		}
		initial := watchInitial(t, w)
		watchStop(t, w)
		keys := map[string]bool{}
		var prev uint64
		for _, e := range initial {
			if e.Revision() <= prev {
				t.Fatalf("round %d: revision %d after %d", r, e.Revision(), prev)
			}
			prev = e.Revision()
			keys[e.Key()] = true
		}
		if len(keys) != static+hot {
			t.Fatalf("round %d: initial data holds %d keys, want %d", r, len(keys), static+hot)
		}
	}
	writer.halt(t)
}
