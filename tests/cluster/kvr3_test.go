package cluster

// The nats.go KV compatibility scenarios (tests/compat/kv_test.go and
// kv_legacy_test.go) against R3 buckets (issue 15, point 6), on a
// three-node cluster of each kind, differential: every step runs on
// another node than the one before, and the transcripts of cairn and
// nats-server must agree. The compat tests are Test functions bound to
// one server, so the same operations are written here as a compact
// table over a slice of clients, one per node.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestR3KVCompat: see the file comment.
func TestR3KVCompat(t *testing.T) {
	t.Parallel()
	compareOnBoth(t, func(t *testing.T, k kind, tr *transcript) {
		nodes := startJSCluster(t, k, 3)
		js := make([]jetstream.JetStream, len(nodes))
		legacy := make([]nats.JetStreamContext, len(nodes))
		for i, n := range nodes {
			js[i] = jsOn(t, n)
			l, err := connect(t, n.URL(), nats.IgnoreDiscoveredServers()).JetStream(nats.MaxWait(5 * time.Second))
			if err != nil {
				t.Fatal(err)
			}
			legacy[i] = l
		}
		for _, sc := range []struct {
			name string
			run  func(t *testing.T, k kind, nodes []*node, js []jetstream.JetStream, legacy []nats.JetStreamContext, tr *transcript)
		}{
			{"JetStream", testR3KVJetStream},
			{"Watch", testR3KVWatch},
			{"PerKeyTTL", testR3KVPerKeyTTL},
			{"Legacy", testR3KVLegacy},
		} {
			tr.add("== %s", sc.name)
			if !t.Run(sc.name, func(t *testing.T) { sc.run(t, k, nodes, js, legacy, tr) }) {
				return
			}
		}
	})
}

// clusterShape is the cluster block of bucket's stream info as js's
// node reports it, in words that are the same on both kinds: the
// cluster name, whether a leader is named, the replica count, and the
// sorted names of leader and replicas. It waits (bounded) until both
// replicas are current.
func clusterShape(t *testing.T, js jetstream.JetStream, bucket string) string {
	t.Helper()
	var ci *jetstream.ClusterInfo
	waitFor(t, 10*time.Second, bucket+" replicas current", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s, err := js.Stream(ctx, "KV_"+bucket)
		if err != nil {
			return false
		}
		ci = s.CachedInfo().Cluster
		if ci == nil || ci.Leader == "" || len(ci.Replicas) != 2 {
			return false
		}
		for _, r := range ci.Replicas {
			if !r.Current {
				return false
			}
		}
		return true
	})
	names := []string{ci.Leader}
	for _, r := range ci.Replicas {
		names = append(names, r.Name)
	}
	slices.Sort(names)
	return fmt.Sprintf("cluster name=%s leader=%v replicas=%d names=%v", ci.Name, ci.Leader != "", len(ci.Replicas), names)
}

// statusText is a bucket's status in a transcript.
func statusText(st jetstream.KeyValueStatus) string {
	bs := st.(*jetstream.KeyValueBucketStatus)
	info := bs.StreamInfo()
	return fmt.Sprintf("status bucket=%s values=%d history=%d ttl=%v store=%s replicas=%d/%d direct=%v rollup=%v denydelete=%v discard=%v lastseq=%d subjects=%d",
		st.Bucket(), st.Values(), st.History(), st.TTL(), st.BackingStore(), st.Config().Replicas, info.Config.Replicas,
		info.Config.AllowDirect, info.Config.AllowRollup, info.Config.DenyDelete, info.Config.Discard, info.State.LastSeq, info.State.NumSubjects)
}

// testR3KVJetStream: the jetstream KeyValue operations of
// tests/compat/kv_test.go on an R3 bucket, each on another node.
func testR3KVJetStream(t *testing.T, k kind, nodes []*node, js []jetstream.JetStream, _ []nats.JetStreamContext, tr *transcript) {
	const bucket = "r3c"
	n := len(nodes)
	createR3Logged(t, k, nodes, jetstream.KeyValueConfig{Bucket: bucket, History: 5, Description: "r3", Metadata: map[string]string{"owner": "me"}})
	step := 0
	on := func() jetstream.KeyValue { step++; return kvOn(t, js[step%n], bucket) }
	ctx := ctxT(t, 30*time.Second)
	rec := func(what string, rev uint64, err error) { tr.add("%s: rev=%d %s", what, rev, errText(err)) }

	for i, kv := range []string{"a", "b", "a", "deep/path_x=y.z"} {
		rev, err := on().Put(ctx, kv, []byte(fmt.Sprint(i+1)))
		rec("put "+kv, rev, err)
	}
	for _, key := range []string{"a", "deep/path_x=y.z", "nope"} {
		e, err := on().Get(ctx, key)
		tr.add("get %s: %s %s", key, entryText(e), errText(err))
	}
	for _, r := range []uint64{1, 2} {
		e, err := on().GetRevision(ctx, "a", r)
		tr.add("get a at %d: %s %s", r, entryText(e), errText(err))
	}
	for _, bad := range []string{"", ".a", "a b", "a*"} {
		_, err := on().Put(ctx, bad, nil)
		tr.add("put %q: invalid=%v", bad, errors.Is(err, jetstream.ErrInvalidKey))
	}

	rev, err := on().Create(ctx, "c", []byte("v1"))
	rec("create c", rev, err)
	_, err = on().Create(ctx, "c", []byte("v2"))
	tr.add("create c again: exists=%v %s", errors.Is(err, jetstream.ErrKeyExists), apiCode(err))
	rev2, err := on().Update(ctx, "c", []byte("v2"), rev)
	rec(fmt.Sprintf("update c at %d", rev), rev2, err)
	_, err = on().Update(ctx, "c", []byte("v3"), rev)
	tr.add("update c at stale %d: %s", rev, apiCode(err))
	err = on().Delete(ctx, "c", jetstream.LastRevision(rev))
	tr.add("delete c at stale %d: %s", rev, apiCode(err))
	tr.add("delete c at %d: %s", rev2, errText(on().Delete(ctx, "c", jetstream.LastRevision(rev2))))
	e, err := on().Get(ctx, "c")
	tr.add("get deleted c: %s %s", entryText(e), errText(err))
	rev, err = on().Create(ctx, "c", []byte("again"))
	rec("create c after delete", rev, err)
	rev, err = on().Update(ctx, "fresh", []byte("x"), 0)
	rec("update fresh at 0", rev, err)
	tr.add("delete never: %s", errText(on().Delete(ctx, "never")))

	hist, err := on().History(ctx, "c")
	tr.add("history c: %s", errText(err))
	for _, e := range hist {
		tr.add("  %s", entryText(e))
	}
	keys, err := on().Keys(ctx)
	slices.Sort(keys)
	tr.add("keys: %v %s", keys, errText(err))

	tr.add("purge a: %s", errText(on().Purge(ctx, "a")))
	e, err = on().GetRevision(ctx, "a", 1)
	tr.add("get a at 1 after purge: %s %s", entryText(e), errText(err))
	lister, err := on().ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for k := range lister.Keys() {
		listed = append(listed, k)
	}
	slices.Sort(listed)
	tr.add("list keys after purge: %v", listed)
	m, err := js[step%n].Stream(ctx, "KV_"+bucket)
	if err == nil {
		var msg *jetstream.RawStreamMsg
		msg, err = m.GetLastMsgForSubject(ctx, "$KV."+bucket+".a")
		if err == nil {
			tr.add("purge marker: op=%s rollup=%s data=%d", msg.Header.Get("KV-Operation"), msg.Header.Get("Nats-Rollup"), len(msg.Data))
		}
	}
	if err != nil {
		tr.add("purge marker: %s", errText(err))
	}

	for i := range n {
		st, err := kvOn(t, js[i], bucket).Status(ctx)
		if err != nil {
			t.Fatalf("status on %s: %v", nodes[i].name, err)
		}
		cfg := st.Config()
		tr.add("%s description=%q owner=%q", statusText(st), cfg.Description, cfg.Metadata["owner"])
		tr.add("%s", clusterShape(t, js[i], bucket))
	}
}

// apiCode is err's JetStream error code in a transcript.
func apiCode(err error) string {
	var a *jetstream.APIError
	if errors.As(err, &a) {
		return fmt.Sprintf("code=%d err_code=%d", a.Code, a.ErrorCode)
	}
	var l *nats.APIError
	if errors.As(err, &l) {
		return fmt.Sprintf("code=%d err_code=%d", l.Code, l.ErrorCode)
	}
	return errText(err)
}

// testR3KVWatch: WatchAll with history, a key watch with updates only,
// each on a node, with the writes on the others.
func testR3KVWatch(t *testing.T, k kind, nodes []*node, js []jetstream.JetStream, _ []nats.JetStreamContext, tr *transcript) {
	const bucket = "r3w"
	n := len(nodes)
	createR3Logged(t, k, nodes, jetstream.KeyValueConfig{Bucket: bucket, History: 10})
	ctx := ctxT(t, 30*time.Second)
	var want []string
	for i := range 6 {
		kv := kvOn(t, js[i%n], bucket)
		key := fmt.Sprintf("k%d", i%2)
		rev, err := kv.Put(ctx, key, []byte(fmt.Sprint("v", i)))
		if err != nil {
			t.Fatalf("put: %v", err)
		}
		want = append(want, fmt.Sprintf("%s %s rev=%d %q", jetstream.KeyValuePut, key, rev, fmt.Sprint("v", i)))
	}
	all, err := kvOn(t, js[1], bucket).WatchAll(ctx, jetstream.IncludeHistory())
	if err != nil {
		t.Fatal(err)
	}
	defer all.Stop()
	upd, err := kvOn(t, js[2], bucket).Watch(ctx, "k1", jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer upd.Stop()
	tr.add("watch all with history:")
	initialValues(t, k, tr, func() (string, bool) {
		select {
		case e := <-all.Updates():
			if e == nil {
				return "", false
			}
			return watchText(e), true
		case <-time.After(10 * time.Second):
			t.Fatal("watch all: no entry within 10s")
			return "", false
		}
	}, want)
	// A put that upd must see proves it subscribed before the writes.
	kv0 := kvOn(t, js[0], bucket)
	live := []string{"k0", "k1", "k1"}
	var wantLive, wantK1 []string
	for i, key := range live {
		if i == 2 {
			if err := kv0.Delete(ctx, key); err != nil {
				t.Fatal(err)
			}
			st, err := kv0.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			w := fmt.Sprintf("%s %s rev=%d %q", jetstream.KeyValueDelete, key, st.(*jetstream.KeyValueBucketStatus).StreamInfo().State.LastSeq, "")
			wantLive, wantK1 = append(wantLive, w), append(wantK1, w)
			continue
		}
		rev, err := kv0.Put(ctx, key, []byte("live"))
		if err != nil {
			t.Fatal(err)
		}
		w := fmt.Sprintf("%s %s rev=%d %q", jetstream.KeyValuePut, key, rev, "live")
		wantLive = append(wantLive, w)
		if key == "k1" {
			wantK1 = append(wantK1, w)
		}
	}
	tr.add("watch all live:")
	for _, w := range wantLive {
		if got := watchText(nextEntry(t, all, 10*time.Second)); got != w {
			t.Fatalf("live entry %s, want %s", got, w)
		}
		tr.add("  %s", w)
	}
	tr.add("watch k1 updates only:")
	for _, w := range wantK1 {
		if got := watchText(nextEntry(t, upd, 10*time.Second)); got != w {
			t.Fatalf("k1 entry %s, want %s", got, w)
		}
		tr.add("  %s", w)
	}
}

// testR3KVPerKeyTTL: a per-key TTL on an R3 bucket with limit markers;
// the expiry marker is on every replica (read from every node).
func testR3KVPerKeyTTL(t *testing.T, k kind, nodes []*node, js []jetstream.JetStream, _ []nats.JetStreamContext, tr *transcript) {
	const bucket = "r3t"
	createR3Logged(t, k, nodes, jetstream.KeyValueConfig{Bucket: bucket, LimitMarkerTTL: time.Second})
	ctx := ctxT(t, 30*time.Second)
	st, err := kvOn(t, js[1], bucket).Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tr.add("limit marker ttl %v", st.LimitMarkerTTL())
	rev, err := kvOn(t, js[1], bucket).Create(ctx, "k", []byte("v"), jetstream.KeyTTL(time.Second))
	tr.add("create k with ttl: rev=%d %s", rev, errText(err))
	rev, err = kvOn(t, js[2], bucket).Put(ctx, "stay", []byte("v"))
	tr.add("put stay: rev=%d %s", rev, errText(err))
	for i := range nodes {
		s, err := js[i].Stream(ctx, "KV_"+bucket)
		if err != nil {
			t.Fatal(err)
		}
		var m *jetstream.RawStreamMsg
		waitFor(t, 10*time.Second, "a MaxAge limit marker seen from "+nodes[i].name, func() bool {
			c, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			m, err = s.GetLastMsgForSubject(c, "$KV."+bucket+".k")
			return err == nil && m.Header.Get("Nats-Marker-Reason") == "MaxAge"
		})
		_, err = kvOn(t, js[i], bucket).Get(ctx, "k")
		tr.add("from %s: marker seq=%d; get k: %s", nodes[i].name, m.Sequence, errText(err))
	}
	plain := "r3plain"
	createR3Logged(t, k, nodes, jetstream.KeyValueConfig{Bucket: plain})
	_, err = kvOn(t, js[2], plain).Create(ctx, "k", []byte("v"), jetstream.KeyTTL(time.Second))
	tr.add("ttl on a bucket without per-key TTLs: %s", apiCode(err))
}

// testR3KVLegacy: the legacy nats.KeyValue operations of
// tests/compat/kv_legacy_test.go on an R3 bucket created through the
// legacy API, each on another node.
func testR3KVLegacy(t *testing.T, k kind, nodes []*node, js []jetstream.JetStream, legacy []nats.JetStreamContext, tr *transcript) {
	const bucket = "r3l"
	n := len(nodes)
	t.Logf("%s: legacy create of R3 bucket %s at %s", k.name, bucket, time.Now().Format("15:04:05.000"))
	created, err := legacy[2].CreateKeyValue(&nats.KeyValueConfig{Bucket: bucket, History: 5, Replicas: 3})
	if err != nil {
		t.Fatalf("legacy create R3: %v", err)
	}
	tr.add("legacy create: bucket=%s", created.Bucket())
	visible(t, js, bucket)
	step := 0
	on := func() nats.KeyValue {
		step++
		kv, err := legacy[step%n].KeyValue(bucket)
		if err != nil {
			t.Fatalf("legacy bind on %s: %v", nodes[step%n].name, err)
		}
		return kv
	}
	lent := func(e nats.KeyValueEntry) string {
		if e == nil {
			return "<nil>"
		}
		return fmt.Sprintf("%s %s rev=%d delta=%d %q", e.Operation(), e.Key(), e.Revision(), e.Delta(), e.Value())
	}
	rev, err := on().Put("a", []byte("1"))
	tr.add("put a: rev=%d %s", rev, errText(err))
	rev, err = on().PutString("a", "2")
	tr.add("putstring a: rev=%d %s", rev, errText(err))
	e, err := on().Get("a")
	tr.add("get a: %s %s", lent(e), errText(err))
	e, err = on().GetRevision("a", 1)
	tr.add("get a at 1: %s %s", lent(e), errText(err))
	_, err = on().Get("none")
	tr.add("get none: notfound=%v", errors.Is(err, nats.ErrKeyNotFound))
	rev, err = on().Create("c", []byte("x"))
	tr.add("create c: rev=%d %s", rev, errText(err))
	_, err = on().Create("c", []byte("y"))
	tr.add("create c again: exists=%v", errors.Is(err, nats.ErrKeyExists))
	rev2, err := on().Update("c", []byte("y"), rev)
	tr.add("update c at %d: rev=%d %s", rev, rev2, errText(err))
	_, err = on().Update("c", []byte("z"), rev)
	tr.add("update c at stale %d: %s", rev, apiCode(err))
	tr.add("delete c at stale: %s", apiCode(on().Delete("c", nats.LastRevision(rev))))
	tr.add("delete c: %s", errText(on().Delete("c", nats.LastRevision(rev2))))
	rev, err = on().Create("c", []byte("again"))
	tr.add("create c after delete: rev=%d %s", rev, errText(err))
	tr.add("purge a: %s", errText(on().Purge("a")))
	_, err = on().GetRevision("a", 1)
	tr.add("get a at 1 after purge: notfound=%v", errors.Is(err, nats.ErrKeyNotFound))
	hist, err := on().History("c")
	tr.add("history c: %s", errText(err))
	for _, e := range hist {
		tr.add("  %s", lent(e))
	}
	keys, err := on().Keys()
	slices.Sort(keys)
	tr.add("keys: %v %s", keys, errText(err))
	w, err := on().WatchAll(nats.IncludeHistory())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	tr.add("legacy watch all with history:")
	// c's history, then a's purge marker (the last write).
	watched := func(e nats.KeyValueEntry) string {
		return fmt.Sprintf("%s %s rev=%d %q", e.Operation(), e.Key(), e.Revision(), e.Value())
	}
	var want []string
	for _, e := range hist {
		want = append(want, watched(e))
	}
	want = append(want, fmt.Sprintf("%s a rev=%d %q", nats.KeyValuePurge, rev+1, ""))
	initialValues(t, k, tr, func() (string, bool) {
		select {
		case e := <-w.Updates():
			if e == nil {
				return "", false
			}
			return watched(e), true
		case <-time.After(10 * time.Second):
			t.Fatal("legacy watch: no entry within 10s")
			return "", false
		}
	}, want)
	for i := range n {
		kv, err := legacy[i].KeyValue(bucket)
		if err != nil {
			t.Fatal(err)
		}
		st, err := kv.Status()
		if err != nil {
			t.Fatalf("legacy status on %s: %v", nodes[i].name, err)
		}
		ci := st.(*nats.KeyValueBucketStatus).StreamInfo().Cluster
		var names []string
		if ci != nil {
			names = append(names, ci.Leader)
			for _, r := range ci.Replicas {
				names = append(names, r.Name)
			}
		}
		slices.Sort(names)
		tr.add("legacy status bucket=%s values=%d history=%d store=%s replicas=%d cluster=%v",
			st.Bucket(), st.Values(), st.History(), st.BackingStore(),
			st.(*nats.KeyValueBucketStatus).StreamInfo().Config.Replicas, names)
	}
}

// initialValues reads a watch with its history through next (an entry's
// text, or false for the end-of-initial marker): the entries in want,
// in order, then the marker. An end-of-initial marker before the last
// of them (nats.go sends it when an entry's num_pending is 0, or when
// the consumer was created with none pending) is an error on cairn and
// logged on nats-server, whose R3 consumers were seen to do it; the
// entries must come all the same.
func initialValues(t *testing.T, k kind, tr *transcript, next func() (string, bool), want []string) {
	t.Helper()
	var got []string
	marker := -1
	for len(got) < len(want) {
		e, ok := next()
		if !ok {
			if marker < 0 {
				marker = len(got)
			}
			continue
		}
		got = append(got, e)
		if e != want[len(got)-1] {
			t.Fatalf("%s: watch entry %d: %s, want %s; so far %v", k.name, len(got), e, want[len(got)-1], got)
		}
		tr.add("  %s", e)
	}
	if marker < 0 {
		if e, ok := next(); ok {
			t.Fatalf("%s: after the %d initial entries: %s, want the end-of-initial marker", k.name, len(want), e)
		}
		return
	}
	msg := fmt.Sprintf("%s: the end-of-initial marker came after %d of the %d initial entries (%v)", k.name, marker, len(want), got)
	if k.name == "cairn" {
		t.Error(msg)
	} else {
		t.Log(msg)
	}
}

// createR3Logged is createR3 logging the wall-clock time of the create,
// to set beside the nodes' logs (metadata group transitions).
func createR3Logged(t *testing.T, k kind, nodes []*node, cfg jetstream.KeyValueConfig) {
	t.Helper()
	t.Logf("%s: create of R3 bucket %s at %s", k.name, cfg.Bucket, time.Now().Format("15:04:05.000"))
	createR3(t, k, nodes, cfg)
}
