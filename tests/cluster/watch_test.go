package cluster

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// writer is one write of a watch scenario, made on node on.
type writer struct {
	on     int
	key    string
	value  string
	delete bool
}

// nextEntry returns w's next entry (nil for the end of the initial
// values), failing t after a bounded wait or when the watcher stopped.
func nextEntry(t *testing.T, w jetstream.KeyWatcher, d time.Duration) jetstream.KeyValueEntry {
	t.Helper()
	select {
	case e, ok := <-w.Updates():
		if !ok {
			t.Fatal("watcher stopped")
		}
		return e
	case <-time.After(d):
		t.Fatalf("no watch entry within %v", d)
		return nil
	}
}

// watchPlan splits the nodes for a watch scenario on bucket: the watcher
// on a node that does not hold it, the writers on the two others (the
// holder and one more).
func watchPlan(t *testing.T, nodes []*node, js []jetstream.JetStream, bucket string) (watcher int, writers [2]int) {
	t.Helper()
	holder := holderOf(t, js[0], bucket)
	watcher = -1
	w := 0
	for i, n := range nodes[:3] {
		if watcher < 0 && n.name != holder {
			watcher = i
			continue
		}
		writers[w] = i
		w++
	}
	return watcher, writers
}

// write makes the writes in order, each acknowledged before the next,
// and returns the entry each must give a watcher (revision included).
func write(t *testing.T, js []jetstream.JetStream, bucket string, ws []writer) []string {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	var want []string
	for _, w := range ws {
		kv := kvOn(t, js[w.on], bucket)
		if w.delete {
			if err := kv.Delete(ctx, w.key); err != nil {
				t.Fatalf("delete %s: %v", w.key, err)
			}
			e, err := kvOn(t, js[(w.on+1)%len(js)], bucket).Get(ctx, w.key)
			if err == nil {
				t.Fatalf("get after delete of %s: %s", w.key, entryText(e))
			}
			st, err := kv.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			rev := st.(*jetstream.KeyValueBucketStatus).StreamInfo().State.LastSeq
			want = append(want, fmt.Sprintf("%s %s rev=%d %q", jetstream.KeyValueDelete, w.key, rev, ""))
			continue
		}
		rev, err := kv.Put(ctx, w.key, []byte(w.value))
		if err != nil {
			t.Fatalf("put %s: %v", w.key, err)
		}
		want = append(want, fmt.Sprintf("%s %s rev=%d %q", jetstream.KeyValuePut, w.key, rev, w.value))
	}
	return want
}

// watchText is a watched entry as write describes it.
func watchText(e jetstream.KeyValueEntry) string {
	return fmt.Sprintf("%s %s rev=%d %q", e.Operation(), e.Key(), e.Revision(), e.Value())
}

// writeSeq is n writes alternating between the writers' nodes, with a
// delete every seventh.
func writeSeq(writers [2]int, n int, tag string) []writer {
	var ws []writer
	for i := range n {
		w := writer{on: writers[i%2], key: fmt.Sprintf("k%d", i%5), value: fmt.Sprintf("%s%d", tag, i)}
		if i%7 == 6 {
			w.delete = true
		}
		ws = append(ws, w)
	}
	return ws
}

// expect reads len(want) entries from w and checks them in order, then
// a sentinel written after them comes next: nothing was delivered twice
// or out of order.
func expect(t *testing.T, tr *transcript, w jetstream.KeyWatcher, js []jetstream.JetStream, bucket string, on int, want []string) {
	t.Helper()
	for i, wt := range want {
		e := nextEntry(t, w, 10*time.Second)
		if e == nil {
			t.Fatalf("entry %d: end-of-initial marker, want %s", i, wt)
		}
		if got := watchText(e); got != wt {
			t.Fatalf("entry %d: %s, want %s", i, got, wt)
		}
		tr.add("  %s", wt)
	}
	sentinel := write(t, js, bucket, []writer{{on: on, key: "sentinel", value: "end"}})
	if got := watchText(nextEntry(t, w, 10*time.Second)); got != sentinel[0] {
		t.Fatalf("after the expected entries: %s, want the sentinel %s", got, sentinel[0])
	}
}

// testKVWatch: a watcher on a node that does not hold the bucket sees
// every write from the two other nodes in order, exactly once, delete
// markers included.
func testKVWatch(t *testing.T, nodes []*node, js []jetstream.JetStream, tr *transcript) {
	const bucket = "watched"
	if _, err := js[1].CreateKeyValue(ctxT(t, 5*time.Second), jetstream.KeyValueConfig{Bucket: bucket, History: 10}); err != nil {
		t.Fatal(err)
	}
	visible(t, js, bucket)
	watcher, writers := watchPlan(t, nodes, js, bucket)
	w, err := kvOn(t, js[watcher], bucket).WatchAll(ctxT(t, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if e := nextEntry(t, w, 10*time.Second); e != nil {
		t.Fatalf("empty bucket: first entry %s, want the end-of-initial marker", entryText(e))
	}
	want := write(t, js, bucket, writeSeq(writers, 60, "v"))
	expect(t, tr, w, js, bucket, writers[0], want)

	// Watch of one key on the same node: only that key's writes.
	kw, err := kvOn(t, js[watcher], bucket).Watch(ctxT(t, time.Minute), "k1", jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer kw.Stop()
	ws := writeSeq(writers, 20, "w")
	all := write(t, js, bucket, ws)
	var k1 []string
	for i, wr := range ws {
		if wr.key == "k1" {
			k1 = append(k1, all[i])
		}
	}
	tr.add("watch k1:")
	for i, wt := range k1 {
		if got := watchText(nextEntry(t, kw, 10*time.Second)); got != wt {
			t.Fatalf("k1 entry %d: %s, want %s", i, got, wt)
		}
		tr.add("  %s", wt)
	}
}

// testKVLateWatch: a watcher started on a node that does not hold the
// bucket, after values exist, gets the latest value of each key (delete
// markers included), the end-of-initial marker, then the updates.
func testKVLateWatch(t *testing.T, nodes []*node, js []jetstream.JetStream, tr *transcript) {
	const bucket = "late"
	if _, err := js[2].CreateKeyValue(ctxT(t, 5*time.Second), jetstream.KeyValueConfig{Bucket: bucket, History: 3}); err != nil {
		t.Fatal(err)
	}
	visible(t, js, bucket)
	watcher, writers := watchPlan(t, nodes, js, bucket)
	all := write(t, js, bucket, writeSeq(writers, 14, "x"))
	// The latest entry of each key, in revision order.
	latest := map[string]int{}
	for i, wt := range all {
		latest[keyOf(wt)] = i
	}
	var initial []string
	for i, wt := range all {
		if latest[keyOf(wt)] == i {
			initial = append(initial, wt)
		}
	}
	w, err := kvOn(t, js[watcher], bucket).WatchAll(ctxT(t, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	tr.add("initial:")
	for i, wt := range initial {
		e := nextEntry(t, w, 10*time.Second)
		if e == nil || watchText(e) != wt {
			t.Fatalf("initial entry %d: %s, want %s", i, entryText(e), wt)
		}
		tr.add("  %s", wt)
	}
	if e := nextEntry(t, w, 10*time.Second); e != nil {
		t.Fatalf("after the initial values: %s, want the end-of-initial marker", entryText(e))
	}
	tr.add("updates:")
	expect(t, tr, w, js, bucket, writers[1], write(t, js, bucket, writeSeq(writers, 10, "y")))
}

// keyOf is the key of an entry as write describes it.
func keyOf(wt string) string {
	var op, key string
	fmt.Sscan(wt, &op, &key)
	return key
}
