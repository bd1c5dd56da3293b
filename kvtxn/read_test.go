package kvtxn_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/kvtxn"
)

// entries renders a snapshot as "key=value@rev" (markers as "key DEL@rev").
func entries(s *kvtxn.Snapshot) string {
	out := ""
	for _, e := range s.Entries {
		if out != "" {
			out += " "
		}
		switch e.Operation {
		case jetstream.KeyValuePut:
			out += fmt.Sprintf("%s=%s@%d", e.Key, e.Value, e.Revision)
		case jetstream.KeyValueDelete:
			out += fmt.Sprintf("%s DEL@%d", e.Key, e.Revision)
		default:
			out += fmt.Sprintf("%s PURGE@%d", e.Key, e.Revision)
		}
	}
	return out
}

func TestPointInTimeReads(t *testing.T) {
	forEachServer(t, func(t *testing.T, js jetstream.JetStream) {
		ctx := testContext(t)
		kv := newBucket(t, ctx, js, jetstream.KeyValueConfig{Bucket: "pit", History: 10}, false)
		mustPut(t, ctx, kv, "a", "a1")              // 1
		mustPut(t, ctx, kv, "b", "b1")              // 2
		mustPut(t, ctx, kv, "a", "a2")              // 3
		mustPut(t, ctx, kv, "x.y", "xy1")           // 4
		if err := kv.Delete(ctx, "b"); err != nil { // 5
			t.Fatal(err)
		}
		mustPut(t, ctx, kv, "c", "c1") // 6

		cases := []struct {
			rev  uint64
			all  string
			many string // a, b, c, nothere
		}{
			{0, "a=a2@3 b DEL@5 c=c1@6 x.y=xy1@4", "a=a2@3 b DEL@5 c=c1@6"},
			{6, "a=a2@3 b DEL@5 c=c1@6 x.y=xy1@4", "a=a2@3 b DEL@5 c=c1@6"},
			{4, "a=a2@3 b=b1@2 x.y=xy1@4", "a=a2@3 b=b1@2"},
			{2, "a=a1@1 b=b1@2", "a=a1@1 b=b1@2"},
			{1, "a=a1@1", "a=a1@1"},
		}
		for _, c := range cases {
			var opts []kvtxn.ReadOption
			if c.rev > 0 {
				opts = append(opts, kvtxn.AtRevision(c.rev))
			}
			all, err := kvtxn.GetAll(ctx, js, "pit", "", opts...)
			if err != nil {
				t.Fatalf("GetAll at %d: %v", c.rev, err)
			}
			if got := entries(all); got != c.all {
				t.Errorf("GetAll at %d: %s, want %s", c.rev, got, c.all)
			}
			wantRev := c.rev
			if wantRev == 0 {
				wantRev = 6
			}
			if all.Revision != wantRev {
				t.Errorf("GetAll at %d: snapshot revision %d, want %d", c.rev, all.Revision, wantRev)
			}
			many, err := kvtxn.GetMany(ctx, js, "pit", []string{"a", "b", "c", "nothere"}, opts...)
			if err != nil {
				t.Fatalf("GetMany at %d: %v", c.rev, err)
			}
			if got := entries(many); got != c.many {
				t.Errorf("GetMany at %d: %s, want %s", c.rev, got, c.many)
			}
		}
		sub, err := kvtxn.GetAll(ctx, js, "pit", "x.*")
		if err != nil || entries(sub) != "x.y=xy1@4" {
			t.Errorf("GetAll x.*: %v %v", entries(sub), err)
		}
		if v := all(t, js, "pit").Values(); len(v) != 3 || string(v["c"]) != "c1" {
			t.Errorf("Values: %q", v)
		}
		if _, err := kvtxn.GetAll(ctx, js, "pit", "", kvtxn.AtRevision(7)); !errors.Is(err, kvtxn.ErrRevisionInFuture) {
			t.Errorf("read at a future revision: %v, want ErrRevisionInFuture", err)
		}
		if _, err := kvtxn.GetMany(ctx, js, "pit", nil); !errors.Is(err, kvtxn.ErrNoKeys) {
			t.Errorf("GetMany without keys: %v", err)
		}
		if _, err := kvtxn.GetMany(ctx, js, "pit", []string{"a*"}); !errors.Is(err, kvtxn.ErrInvalidKey) {
			t.Errorf("GetMany with a wildcard: %v", err)
		}
		empty := newBucket(t, ctx, js, jetstream.KeyValueConfig{Bucket: "empty"}, false)
		_ = empty
		if s, err := kvtxn.GetAll(ctx, js, "empty", ""); err != nil || len(s.Entries) != 0 {
			t.Errorf("GetAll of an empty bucket: %+v %v", s, err)
		}
		if _, err := kvtxn.GetAll(ctx, js, "nosuchbucket", ""); err == nil {
			t.Errorf("GetAll of a missing bucket succeeded")
		}
	})
}

func all(t *testing.T, js jetstream.JetStream, bucket string) *kvtxn.Snapshot {
	t.Helper()
	s, err := kvtxn.GetAll(testContext(t), js, bucket, "")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRevisionTooOld(t *testing.T) {
	forEachServer(t, func(t *testing.T, js jetstream.JetStream) {
		ctx := testContext(t)
		kv := newBucket(t, ctx, js, jetstream.KeyValueConfig{Bucket: "old"}, false) // history 1
		mustPut(t, ctx, kv, "a", "a1")                                              // 1
		mustPut(t, ctx, kv, "b", "b1")                                              // 2
		mustPut(t, ctx, kv, "a", "a2")                                              // 3: removes 1
		mustPut(t, ctx, kv, "c", "c1")                                              // 4

		// a's value at 2 (revision 1) is gone.
		if _, err := kvtxn.GetAll(ctx, js, "old", "", kvtxn.AtRevision(2)); !errors.Is(err, kvtxn.ErrRevisionTooOld) {
			t.Errorf("GetAll at 2: %v, want ErrRevisionTooOld", err)
		}
		if _, err := kvtxn.GetMany(ctx, js, "old", []string{"a", "b"}, kvtxn.AtRevision(2)); !errors.Is(err, kvtxn.ErrRevisionTooOld) {
			t.Errorf("GetMany a,b at 2: %v, want ErrRevisionTooOld", err)
		}
		// b and c have retained entries ≤ 4: provably exact.
		s, err := kvtxn.GetMany(ctx, js, "old", []string{"b", "c"}, kvtxn.AtRevision(4))
		if err != nil || entries(s) != "b=b1@2 c=c1@4" {
			t.Errorf("GetMany b,c at 4: %s %v", entries(s), err)
		}
		// The conservative rule refuses a whole-bucket read once anything
		// ≤ N is gone, even where the answer happens to be complete.
		if _, err := kvtxn.GetAll(ctx, js, "old", "", kvtxn.AtRevision(4)); !errors.Is(err, kvtxn.ErrRevisionTooOld) {
			t.Errorf("GetAll at 4: %v, want ErrRevisionTooOld", err)
		}
		// The latest revision is always answerable.
		if s := all(t, js, "old"); entries(s) != "a=a2@3 b=b1@2 c=c1@4" {
			t.Errorf("GetAll latest: %s", entries(s))
		}
	})
}

func TestReadInsideABatchTakesTheRevisionBeforeIt(t *testing.T) {
	forEachServer(t, func(t *testing.T, js jetstream.JetStream) {
		ctx := testContext(t)
		kv := newBucket(t, ctx, js, jetstream.KeyValueConfig{Bucket: "mid", History: 5}, true)
		mustPut(t, ctx, kv, "a", "a1") // 1
		tx := kvtxn.Begin(js, "mid")
		_ = tx.Put("a", []byte("a2")) // 2
		_ = tx.Put("b", []byte("b2")) // 3
		_ = tx.Put("c", []byte("c2")) // 4
		if _, err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		mustPut(t, ctx, kv, "d", "d1") // 5
		for rev, want := range map[uint64]string{1: "a=a1@1", 2: "a=a1@1", 3: "a=a1@1", 4: "a=a2@2 b=b2@3 c=c2@4", 5: "a=a2@2 b=b2@3 c=c2@4 d=d1@5"} {
			s, err := kvtxn.GetAll(ctx, js, "mid", ">", kvtxn.AtRevision(rev))
			if err != nil {
				t.Fatalf("at %d: %v", rev, err)
			}
			if got := entries(s); got != want {
				t.Errorf("at %d: %s, want %s", rev, got, want)
			}
			if rev == 2 || rev == 3 {
				if s.Revision != 1 {
					t.Errorf("at %d: snapshot revision %d, want 1 (before the batch)", rev, s.Revision)
				}
			} else if s.Revision != rev {
				t.Errorf("at %d: snapshot revision %d", rev, s.Revision)
			}
		}
	})
}

// TestManyKeys reads more keys than nats-server answers in one multi_last
// request (1024): GetMany splits them, GetAll of the whole bucket is
// refused by nats-server with a clear error and answered by cairn.
func TestManyKeys(t *testing.T) {
	forEachServer(t, func(t *testing.T, js jetstream.JetStream) {
		ctx := testContext(t)
		newBucket(t, ctx, js, jetstream.KeyValueConfig{Bucket: "many"}, false)
		const n = 2500
		keys := make([]string, n)
		for i := range keys {
			keys[i] = fmt.Sprintf("k%04d", i)
			if _, err := js.PublishAsync("$KV.many."+keys[i], []byte(keys[i])); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-ctx.Done():
			t.Fatal("publishing timed out")
		}
		s, err := kvtxn.GetMany(ctx, js, "many", append(keys, "absent"))
		if err != nil {
			t.Fatalf("GetMany of %d keys: %v", n+1, err)
		}
		if len(s.Entries) != n || s.Revision != n || s.Entries[n-1].Key != keys[n-1] || string(s.Entries[7].Value) != keys[7] {
			t.Fatalf("GetMany: %d entries at revision %d", len(s.Entries), s.Revision)
		}
		// A key named twice, in different requests of the read, is
		// one entry.
		dup, err := kvtxn.GetMany(ctx, js, "many", append(append([]string{keys[5]}, keys[:1500]...), keys[5]))
		if err != nil || len(dup.Entries) != 1500 {
			t.Fatalf("GetMany of 1500 keys, one named three times: %d entries, %v", len(dup.Entries), err)
		}
		all, err := kvtxn.GetAll(ctx, js, "many", ">")
		if serverKind(t) == "peer" {
			if err == nil || !strings.Contains(err.Error(), "at most 1024") {
				t.Fatalf("GetAll of %d keys on nats-server: %v, want the 1024 limit explained", n, err)
			}
			return
		}
		if err != nil || len(all.Entries) != n {
			t.Fatalf("GetAll of %d keys: %v", n, err)
		}
	})
}

// TestAnswerCutShort reads a bucket bigger than one batch get answer
// (cairn-server stops an answer at 32 MiB on the wire and the reader
// continues from where it stopped).
func TestAnswerCutShort(t *testing.T) {
	forEachServer(t, func(t *testing.T, js jetstream.JetStream) {
		if serverKind(t) == "peer" {
			t.Skip("nats-server bounds an answer by max_bytes only")
		}
		ctx := testContext(t)
		newBucket(t, ctx, js, jetstream.KeyValueConfig{Bucket: "big"}, false)
		value := []byte(strings.Repeat("v", 1000*1000))
		const n = 40
		for i := 0; i < n; i++ {
			if _, err := js.Publish(ctx, fmt.Sprintf("$KV.big.k%02d", i), value); err != nil {
				t.Fatal(err)
			}
		}
		s, err := kvtxn.GetAll(ctx, js, "big", ">")
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Entries) != n || s.Revision != n {
			t.Fatalf("%d entries at revision %d, want %d at %d", len(s.Entries), s.Revision, n, n)
		}
		for _, e := range s.Entries {
			if len(e.Value) != len(value) {
				t.Fatalf("%s: %d bytes", e.Key, len(e.Value))
			}
		}
	})
}
