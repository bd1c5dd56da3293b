package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// cairnKind is the cairn entry of kinds, for the tests of what cairn
// promises alone (nats-server's R1 streams on a dead node answer with
// other timing).
func cairnKind() kind { return kinds[0] }

// acked is a write the server acknowledged.
type acked struct {
	rev   uint64
	value string
}

// spread creates one bucket per node from different nodes on an empty
// cluster and returns, for each node, the bucket it holds (least
// loaded placement puts one on each).
func spread(t *testing.T, nodes []*node, js []jetstream.JetStream, prefix string) map[string]string {
	t.Helper()
	held := map[string]string{}
	for i := range nodes {
		bucket := fmt.Sprintf("%s%d", prefix, i)
		// The least loaded node is chosen from the placing node's view,
		// in which the release of the readiness probe's buckets may
		// still be pending (a tie broken at random): a bucket placed
		// beside another is made again, a few times at most.
		for attempt := 0; ; attempt++ {
			if _, err := js[i].CreateKeyValue(ctxT(t, 5*time.Second), jetstream.KeyValueConfig{Bucket: bucket, History: 5}); err != nil {
				t.Fatalf("create %s on %s: %v", bucket, nodes[i].name, err)
			}
			visible(t, js, bucket)
			h := holderOf(t, js[i], bucket)
			if held[h] == "" {
				held[h] = bucket
				break
			}
			if attempt == 4 {
				t.Fatalf("placement: %s holds both %s and %s on an otherwise empty cluster (5 tries)", h, held[h], bucket)
			}
			if err := js[i].DeleteKeyValue(ctxT(t, 5*time.Second), bucket); err != nil {
				t.Fatalf("delete %s: %v", bucket, err)
			}
			time.Sleep(100 * time.Millisecond) // let the release reach every node's view
		}
	}
	return held
}

// waitAPIError polls a raw API request from nc until its answer carries
// errCode, and returns how long that took; it fails t after d.
func waitAPIError(t *testing.T, nc *nats.Conn, subject string, errCode int, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for {
		e, err := apiRequest(nc, subject, 500*time.Millisecond)
		if err == nil && e != nil && e.ErrCode == errCode {
			return time.Since(start)
		}
		last = fmt.Sprintf("%+v %v", e, err)
		if time.Since(start) > d {
			t.Fatalf("%s: no err_code %d within %v (last: %s)", subject, errCode, d, last)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkWorks puts and gets a key of bucket through every js, each read
// on another node than its write.
func checkWorks(t *testing.T, js []jetstream.JetStream, names []string, bucket, tag string) {
	t.Helper()
	for i := range js {
		ctx := ctxT(t, 5*time.Second)
		key := fmt.Sprintf("%s-%d", tag, i)
		rev, err := kvOn(t, js[i], bucket).Put(ctx, key, []byte(tag))
		if err != nil {
			t.Fatalf("put %s/%s on %s: %v", bucket, key, names[i], err)
		}
		j := (i + 1) % len(js)
		e, err := kvOn(t, js[j], bucket).Get(ctx, key)
		if err != nil || e.Revision() != rev || string(e.Value()) != tag {
			t.Fatalf("get %s/%s on %s after its put on %s: %s %v", bucket, key, names[j], names[i], entryText(e), err)
		}
	}
}

// TestKVHolderKilled (cairn): the node holding bucket X is killed with
// SIGKILL. From the other nodes X is reported offline at once, writes to
// it fail without hanging, the other buckets and bucket creation keep
// working; once the node is back on its ports and store, every
// acknowledged write to X is there, X takes writes again and a watcher
// of X on another node resumes where it was.
func TestKVHolderKilled(t *testing.T) {
	t.Parallel()
	nodes := startJSCluster(t, cairnKind(), 3)
	js := make([]jetstream.JetStream, 3)
	for i, n := range nodes {
		js[i] = jsOn(t, n)
	}
	held := spread(t, nodes, js, "f")
	victim := nodes[1]
	x := held[victim.name]
	a, b := 0, 2 // the survivors' indexes
	survivors := []jetstream.JetStream{js[a], js[b]}
	names := []string{nodes[a].name, nodes[b].name}

	w, err := kvOn(t, js[a], x).WatchAll(ctxT(t, 2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if e := nextEntry(t, w, 10*time.Second); e != nil {
		t.Fatalf("first watch entry %s, want the end-of-initial marker", entryText(e))
	}
	writes := map[string]acked{}
	var lastRev uint64
	for i := range 40 {
		key, value := fmt.Sprintf("k%d", i%10), fmt.Sprint("before", i)
		rev, err := kvOn(t, survivors[i%2], x).Put(ctxT(t, 5*time.Second), key, []byte(value))
		if err != nil {
			t.Fatalf("put %s on %s: %v", key, names[i%2], err)
		}
		writes[key] = acked{rev, value}
		lastRev = rev
		if e := nextEntry(t, w, 10*time.Second); e == nil || e.Revision() != rev || string(e.Value()) != value {
			t.Fatalf("watch before the kill: %s, want rev %d %q", entryText(e), rev, value)
		}
	}

	kx := kvOn(t, js[a], x)
	victim.kill()
	killed := time.Now()
	for _, i := range []int{a, b} {
		nc := connect(t, nodes[i].URL(), nats.IgnoreDiscoveredServers())
		d := waitAPIError(t, nc, "$JS.API.STREAM.INFO.KV_"+x, 10118, 10*time.Second)
		t.Logf("STREAM.INFO of %s on %s: stream offline %v after the kill (%v after the first ask)", x, nodes[i].name, time.Since(killed).Round(time.Millisecond), d.Round(time.Millisecond))
		if since := time.Since(killed); since > 2*time.Second {
			t.Errorf("%s reported %s offline only %v after its holder was killed", nodes[i].name, x, since)
		}
		e, err := apiRequest(nc, "$JS.API.CONSUMER.NAMES.KV_"+x, 2*time.Second)
		if err != nil || e == nil || e.ErrCode != 10008 {
			t.Errorf("CONSUMER.NAMES of offline %s on %s: %+v %v, want err_code 10008", x, nodes[i].name, e, err)
		}
	}
	// A write and a read of X (opened before the kill: opening asks for
	// the stream's info) fail within the client's timeout.
	for _, op := range []struct {
		name string
		run  func(ctx context.Context) error
	}{
		{"put", func(ctx context.Context) error { _, err := kx.Put(ctx, "k0", []byte("lost")); return err }},
		{"get", func(ctx context.Context) error { _, err := kx.Get(ctx, "k0"); return err }},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		start := time.Now()
		err := op.run(ctx)
		cancel()
		took := time.Since(start)
		t.Logf("%s on offline %s: %v after %v", op.name, x, err, took.Round(time.Millisecond))
		if err == nil {
			t.Fatalf("%s on %s succeeded while its holder is down", op.name, x)
		}
		if took > 4*time.Second {
			t.Fatalf("%s on offline %s took %v", op.name, x, took)
		}
	}
	// The survivors' buckets keep working, watch included; a new bucket
	// can be created.
	for _, n := range []*node{nodes[a], nodes[b]} {
		checkWorks(t, survivors, names, held[n.name], "during")
	}
	ow, err := kvOn(t, js[a], held[nodes[b].name]).Watch(ctxT(t, time.Minute), "during-1")
	if err != nil {
		t.Fatal(err)
	}
	defer ow.Stop()
	if e := nextEntry(t, ow, 10*time.Second); e == nil || string(e.Value()) != "during" {
		t.Fatalf("watch of a survivor's bucket: %s", entryText(e))
	}
	if _, err := js[b].CreateKeyValue(ctxT(t, 5*time.Second), jetstream.KeyValueConfig{Bucket: "created-while-down"}); err != nil {
		t.Fatalf("create a bucket with 2 of 3 nodes: %v", err)
	}
	visible(t, survivors, "created-while-down")
	if h := holderOf(t, js[a], "created-while-down"); h == victim.name {
		t.Fatalf("a new bucket was placed on the dead node %s", h)
	}
	checkWorks(t, survivors, names, "created-while-down", "new")

	// Back on its ports and store.
	victim.start(t)
	for _, n := range nodes {
		waitFormed(t, n, nodes)
	}
	restarted := time.Now()
	var rev uint64
	waitFor(t, 20*time.Second, x+" writable after the restart", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		rev, err = kvOn(t, js[b], x).Put(ctx, "after", []byte("restart"))
		return err == nil
	})
	t.Logf("%s writable %v after the restart", x, time.Since(restarted).Round(time.Millisecond))
	for key, want := range writes {
		e, err := kvOn(t, js[b], x).Get(ctxT(t, 5*time.Second), key)
		if err != nil || e.Revision() != want.rev || string(e.Value()) != want.value {
			t.Fatalf("acknowledged %s rev %d %q after the restart: %s %v", key, want.rev, want.value, entryText(e), err)
		}
	}
	waitFor(t, 15*time.Second, "the client of "+victim.name+" reconnects", js[1].Conn().IsConnected)
	checkWorks(t, js, []string{"n1", "n2", "n3"}, x, "restarted")
	// The restarted node learned of the bucket created while it was down.
	visible(t, js, "created-while-down")
	checkWorks(t, js, []string{"n1", "n2", "n3"}, "created-while-down", "restarted")

	// The watcher started before the kill resumes: every revision after
	// the last it saw, in order, once, up to the "after" put and beyond.
	sentinel, err := kvOn(t, js[a], x).Put(ctxT(t, 5*time.Second), "sentinel", []byte("end"))
	if err != nil {
		t.Fatal(err)
	}
	if sentinel <= rev {
		t.Fatalf("sentinel rev %d after the put at rev %d", sentinel, rev)
	}
	resumed := time.Now()
	for want := lastRev + 1; want <= sentinel; want++ {
		e := nextEntry(t, w, 30*time.Second)
		if e == nil || e.Revision() != want {
			t.Fatalf("resumed watcher: %s, want revision %d", entryText(e), want)
		}
		stored, err := kvOn(t, js[b], x).GetRevision(ctxT(t, 5*time.Second), e.Key(), want)
		if err != nil || string(stored.Value()) != string(e.Value()) {
			t.Fatalf("resumed watcher: %s, stored %s %v", entryText(e), entryText(stored), err)
		}
	}
	t.Logf("watcher on %s resumed %v after the sentinel put", nodes[a].name, time.Since(resumed).Round(time.Millisecond))
}
