package watch

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestWatchEmptyBucketMarker(t *testing.T) {
	kv, _, _ := bucket(t, jetstream.KeyValueConfig{Bucket: "empty"})
	ctx := ctxT(t)
	w, err := kv.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	expect(t, w, nil)
	kv.Put(ctx, "a", []byte("1"))
	expect(t, w, put("a", "1", 1))
}

func TestWatchAllLatestThenLive(t *testing.T) {
	kv, _, _ := bucket(t, jetstream.KeyValueConfig{Bucket: "w", History: 5})
	ctx := ctxT(t)
	kv.Put(ctx, "a", []byte("1"))
	kv.Put(ctx, "b.c", []byte("2"))
	kv.Delete(ctx, "a")
	kv.Put(ctx, "d", []byte("4"))
	kv.Put(ctx, "d", []byte("5"))
	w, err := kv.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	// The latest entry of each key, in revision order, delete markers
	// included, then the marker.
	expect(t, w, put("b.c", "2", 2), del("a", 3), put("d", "5", 5), nil)
	kv.Put(ctx, "a", []byte("again"))
	kv.Purge(ctx, "b.c")
	expect(t, w, put("a", "again", 6), purged("b.c", 7))
}

func TestWatchKeyWildcardAndFilters(t *testing.T) {
	kv, _, _ := bucket(t, jetstream.KeyValueConfig{Bucket: "f"})
	ctx := ctxT(t)
	for i, k := range []string{"orders.eu.1", "orders.us.1", "users.1", "orders.eu.2"} {
		kv.Put(ctx, k, []byte(fmt.Sprint(i)))
	}
	one, _ := kv.Watch(ctx, "users.1")
	defer one.Stop()
	expect(t, one, put("users.1", "2", 3), nil)

	wild, _ := kv.Watch(ctx, "orders.*.1")
	defer wild.Stop()
	expect(t, wild, put("orders.eu.1", "0", 1), put("orders.us.1", "1", 2), nil)

	tail, _ := kv.Watch(ctx, "orders.>")
	defer tail.Stop()
	expect(t, tail, put("orders.eu.1", "0", 1), put("orders.us.1", "1", 2), put("orders.eu.2", "3", 4), nil)

	multi, err := kv.WatchFiltered(ctx, []string{"users.*", "orders.us.*"})
	if err != nil {
		t.Fatal(err)
	}
	defer multi.Stop()
	expect(t, multi, put("orders.us.1", "1", 2), put("users.1", "2", 3), nil)

	kv.Put(ctx, "users.2", []byte("new"))
	kv.Put(ctx, "other", []byte("x"))
	kv.Put(ctx, "orders.eu.1", []byte("y"))
	expect(t, multi, put("users.2", "new", 5))
	expect(t, tail, put("orders.eu.1", "y", 7))
	expect(t, wild, put("orders.eu.1", "y", 7))
}

func TestWatchOptions(t *testing.T) {
	kv, _, _ := bucket(t, jetstream.KeyValueConfig{Bucket: "o", History: 10})
	ctx := ctxT(t)
	kv.Put(ctx, "a", []byte("1"))
	kv.Put(ctx, "a", []byte("2"))
	kv.Put(ctx, "b", []byte("3"))
	kv.Delete(ctx, "b")

	hist, _ := kv.WatchAll(ctx, jetstream.IncludeHistory())
	defer hist.Stop()
	expect(t, hist, put("a", "1", 1), put("a", "2", 2), put("b", "3", 3), del("b", 4), nil)

	noDel, _ := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	defer noDel.Stop()
	expect(t, noDel, put("a", "2", 2), nil)

	meta, _ := kv.WatchAll(ctx, jetstream.MetaOnly())
	defer meta.Stop()
	expect(t, meta, &entry{"a", "", 2, jetstream.KeyValuePut}, del("b", 4), nil)

	updates, _ := kv.WatchAll(ctx, jetstream.UpdatesOnly())
	defer updates.Stop()
	resume, _ := kv.WatchAll(ctx, jetstream.ResumeFromRevision(3))
	defer resume.Stop()
	expect(t, resume, put("b", "3", 3), del("b", 4), nil)

	kv.Put(ctx, "c", []byte("5"))
	// UpdatesOnly sends no marker and nothing old.
	expect(t, updates, put("c", "5", 5))
	expect(t, resume, put("c", "5", 5))
	expect(t, meta, &entry{"c", "", 5, jetstream.KeyValuePut})
}

// TestWatchGuarantees: many concurrent updates reach every watcher in
// revision order, without gaps or duplicates. The bucket keeps 64
// revisions per key, so no update is superseded (and legitimately
// skipped, as with nats-server) before a watcher reads it.
func TestWatchGuarantees(t *testing.T) {
	kv, _, _ := bucket(t, jetstream.KeyValueConfig{Bucket: "g", History: 64})
	ctx := ctxT(t)
	const watchers, updates = 20, 500
	ws := make([]jetstream.KeyWatcher, watchers)
	for i := range ws {
		w, err := kv.WatchAll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		expect(t, w, nil)
		ws[i] = w
	}
	for i := 0; i < updates; i++ {
		if _, err := kv.Put(ctx, fmt.Sprintf("k%d", i%37), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	for i, w := range ws {
		for rev := uint64(1); rev <= updates; rev++ {
			e := next(t, w)
			if e.Revision() != rev {
				t.Fatalf("watcher %d: got revision %d, want %d (ordered, no gaps, no duplicates)", i, e.Revision(), rev)
			}
		}
	}
}

func TestKeysAndListKeys(t *testing.T) {
	kv, _, _ := bucket(t, jetstream.KeyValueConfig{Bucket: "k", History: 3})
	ctx := ctxT(t)
	if _, err := kv.Keys(ctx); err != jetstream.ErrNoKeysFound {
		t.Fatalf("keys of an empty bucket: %v", err)
	}
	for _, k := range []string{"a", "b.1", "b.2", "c"} {
		kv.Put(ctx, k, []byte("v"))
	}
	kv.Put(ctx, "a", []byte("v2"))
	kv.Delete(ctx, "c")
	keys, err := kv.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"a", "b.1", "b.2"}) {
		t.Fatalf("keys %v", keys)
	}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for k := range lister.Keys() {
		listed = append(listed, k)
	}
	slices.Sort(listed)
	if !slices.Equal(listed, keys) {
		t.Fatalf("listed %v", listed)
	}
	filtered, err := kv.ListKeysFiltered(ctx, "b.*")
	if err != nil {
		t.Fatal(err)
	}
	var fk []string
	for k := range filtered.Keys() {
		fk = append(fk, k)
	}
	slices.Sort(fk)
	if !slices.Equal(fk, []string{"b.1", "b.2"}) {
		t.Fatalf("filtered %v", fk)
	}
}

func TestHistory(t *testing.T) {
	kv, _, _ := bucket(t, jetstream.KeyValueConfig{Bucket: "h", History: 3})
	ctx := ctxT(t)
	for i := 1; i <= 5; i++ {
		kv.Put(ctx, "x", []byte(fmt.Sprint(i)))
	}
	kv.Delete(ctx, "x")
	h, err := kv.History(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range h {
		got = append(got, fmt.Sprintf("%d:%s:%s", e.Revision(), e.Value(), e.Operation()))
	}
	if want := []string{"4:4:KeyValuePutOp", "5:5:KeyValuePutOp", "6::KeyValueDeleteOp"}; !slices.Equal(got, want) {
		t.Fatalf("history %v, want %v", got, want)
	}
	if _, err := kv.History(ctx, "nothing"); err != jetstream.ErrKeyNotFound {
		t.Fatalf("history of a missing key: %v", err)
	}
}

func TestPurgeDeletes(t *testing.T) {
	kv, js, _ := bucket(t, jetstream.KeyValueConfig{Bucket: "p", History: 5})
	ctx := ctxT(t)
	kv.Put(ctx, "keep", []byte("1"))
	kv.Put(ctx, "gone", []byte("2"))
	kv.Delete(ctx, "gone")
	kv.Put(ctx, "purged", []byte("3"))
	kv.Purge(ctx, "purged")

	// With an age threshold, markers younger than it stay.
	if err := kv.PurgeDeletes(ctx, jetstream.DeleteMarkersOlderThan(time.Hour)); err != nil {
		t.Fatal(err)
	}
	st, _ := js.Stream(ctx, "KV_p")
	info, _ := st.Info(ctx)
	if info.State.Msgs != 3 {
		t.Fatalf("after PurgeDeletes(1h): %d messages, want 3 (keep, both markers)", info.State.Msgs)
	}
	// Without one (a negative duration disables the age check), every
	// deleted key is purged entirely.
	if err := kv.PurgeDeletes(ctx, jetstream.DeleteMarkersOlderThan(-1)); err != nil {
		t.Fatal(err)
	}
	info, _ = st.Info(ctx)
	if info.State.Msgs != 1 {
		t.Fatalf("after PurgeDeletes: %d messages, want 1", info.State.Msgs)
	}
	if _, err := kv.History(ctx, "gone"); err != jetstream.ErrKeyNotFound {
		t.Fatalf("history of a purged key: %v", err)
	}
}

func TestStopRemovesConsumer(t *testing.T) {
	kv, js, _ := bucket(t, jetstream.KeyValueConfig{Bucket: "s"})
	ctx := ctxT(t)
	w, _ := kv.WatchAll(ctx)
	expect(t, w, nil)
	st, _ := js.Stream(ctx, "KV_s")
	if info, _ := st.Info(ctx); info.State.Consumers != 1 {
		t.Fatalf("consumers while watching: %d", info.State.Consumers)
	}
	if err := w.Stop(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		info, _ := st.Info(ctx)
		if info.State.Consumers == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer still there after Stop: %d", info.State.Consumers)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
