package kvtxn_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/kvtxn"
)

// newBucket creates a bucket and, when txn is set, enables transactions.
func newBucket(t *testing.T, ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig, txn bool) jetstream.KeyValue {
	t.Helper()
	kv, err := js.CreateKeyValue(ctx, cfg)
	if err != nil {
		t.Fatalf("create bucket %s: %v", cfg.Bucket, err)
	}
	if txn {
		if err := kvtxn.EnableTransactions(ctx, js, cfg.Bucket); err != nil {
			t.Fatalf("enable transactions: %v", err)
		}
	}
	return kv
}

func mustPut(t *testing.T, ctx context.Context, kv jetstream.KeyValue, key, value string) uint64 {
	t.Helper()
	rev, err := kv.PutString(ctx, key, value)
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return rev
}

func lastSeq(t *testing.T, ctx context.Context, js jetstream.JetStream, bucket string) uint64 {
	t.Helper()
	s, err := js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		t.Fatal(err)
	}
	return s.CachedInfo().State.LastSeq
}

func TestCommitReturnsEveryRevision(t *testing.T) {
	forEachServer(t, func(t *testing.T, js jetstream.JetStream) {
		ctx := testContext(t)
		kv := newBucket(t, ctx, js, jetstream.KeyValueConfig{Bucket: "tx", History: 5}, true)
		mustPut(t, ctx, kv, "u", "0")         // 1
		mustPut(t, ctx, kv, "gone", "x")      // 2
		mustPut(t, ctx, kv, "d", "0")         // 3
		mustPut(t, ctx, kv, "recreated", "0") // 4
		if err := kv.Delete(ctx, "recreated"); err != nil {
			t.Fatal(err) // 5
		}

		tx := kvtxn.Begin(js, "tx")
		steps := []error{
			tx.Put("p", []byte("put")),
			tx.Create("c", []byte("created")),
			tx.Update("u", []byte("updated"), 1),
			tx.Delete("gone"),
			tx.DeleteAt("d", 3),
			tx.Create("recreated", []byte("again")), // over a delete marker
		}
		for i, err := range steps {
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
		}
		res, err := tx.Commit(ctx)
		if err != nil {
			var ce *kvtxn.ConflictError
			if errors.As(err, &ce) {
				t.Logf("server: %v", ce.Err)
			}
			t.Fatalf("commit: %v", err)
		}
		if res.Revision != 11 || len(res.Writes) != 6 {
			t.Fatalf("result %+v, want 6 writes ending at revision 11", res)
		}
		for i, w := range res.Writes {
			if w.Revision != uint64(6+i) {
				t.Errorf("write %d (%s %s) revision %d, want %d", i, w.Op, w.Key, w.Revision, 6+i)
			}
			e, err := kv.Get(ctx, w.Key)
			switch w.Op {
			case kvtxn.OpDelete:
				if !errors.Is(err, jetstream.ErrKeyNotFound) {
					t.Errorf("get %s after delete: %v", w.Key, err)
				}
			default:
				if err != nil {
					t.Fatalf("get %s: %v", w.Key, err)
				}
				if e.Revision() != w.Revision {
					t.Errorf("key %s has revision %d, commit said %d", w.Key, e.Revision(), w.Revision)
				}
			}
		}
		if _, err := tx.Commit(ctx); !errors.Is(err, kvtxn.ErrDone) {
			t.Errorf("second commit: %v, want ErrDone", err)
		}
	})
}

func TestFailedConditionNamesKeyAndAppliesNothing(t *testing.T) {
	forEachServer(t, func(t *testing.T, js jetstream.JetStream) {
		ctx := testContext(t)
		kv := newBucket(t, ctx, js, jetstream.KeyValueConfig{Bucket: "tx"}, true)
		mustPut(t, ctx, kv, "a", "1") // 1
		mustPut(t, ctx, kv, "b", "1") // 2
		mustPut(t, ctx, kv, "b", "2") // 3

		cases := []struct {
			name    string
			build   func(tx *kvtxn.Txn)
			key     string
			current uint64
		}{
			{"stale update", func(tx *kvtxn.Txn) {
				_ = tx.Update("a", []byte("x"), 1)
				_ = tx.Update("b", []byte("x"), 2)
			}, "b", 3},
			{"create of an existing key", func(tx *kvtxn.Txn) {
				_ = tx.Put("new", []byte("x"))
				_ = tx.Create("a", []byte("x"))
			}, "a", 1},
			{"delete at a stale revision", func(tx *kvtxn.Txn) {
				_ = tx.DeleteAt("b", 2)
			}, "b", 3},
			{"update of an absent key", func(tx *kvtxn.Txn) {
				_ = tx.Update("nothere", []byte("x"), 7)
			}, "nothere", 0},
		}
		for _, c := range cases {
			before := lastSeq(t, ctx, js, "tx")
			tx := kvtxn.Begin(js, "tx")
			c.build(tx)
			_, err := tx.Commit(ctx)
			var ce *kvtxn.ConflictError
			if !errors.As(err, &ce) || !errors.Is(err, kvtxn.ErrConflict) {
				t.Fatalf("%s: commit error %v, want a ConflictError", c.name, err)
			}
			if ce.Key != c.key || ce.Current != c.current {
				t.Errorf("%s: conflict on %q at %d, want %q at %d (%v)", c.name, ce.Key, ce.Current, c.key, c.current, err)
			}
			if after := lastSeq(t, ctx, js, "tx"); after != before {
				t.Errorf("%s: bucket moved from revision %d to %d: a failed transaction wrote", c.name, before, after)
			}
		}
		if _, err := kv.Get(ctx, "new"); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Errorf("key of a failed transaction: %v, want not found", err)
		}
	})
}

func TestRefusals(t *testing.T) {
	forEachServer(t, func(t *testing.T, js jetstream.JetStream) {
		ctx := testContext(t)
		newBucket(t, ctx, js, jetstream.KeyValueConfig{Bucket: "plain"}, false)

		tx := kvtxn.Begin(js, "plain")
		if err := tx.Put("k", []byte("v")); err != nil {
			t.Fatal(err)
		}
		if err := tx.Put("k", []byte("w")); !errors.Is(err, kvtxn.ErrDuplicateKey) {
			t.Errorf("same key twice: %v, want ErrDuplicateKey", err)
		}
		for _, bad := range []string{"", ".a", "a.", "a..b", "a b", "a*", ">"} {
			if err := tx.Put(bad, nil); !errors.Is(err, kvtxn.ErrInvalidKey) {
				t.Errorf("key %q: %v, want ErrInvalidKey", bad, err)
			}
		}
		if _, err := tx.Commit(ctx); !errors.Is(err, kvtxn.ErrNotEnabled) {
			t.Errorf("commit without allow_atomic: %v, want ErrNotEnabled", err)
		}
		if _, err := kvtxn.Begin(js, "plain").Commit(ctx); !errors.Is(err, kvtxn.ErrEmpty) {
			t.Errorf("empty commit: %v, want ErrEmpty", err)
		}
	})
}

func TestEnableKeepsSettings(t *testing.T) {
	forEachServer(t, func(t *testing.T, js jetstream.JetStream) {
		ctx := testContext(t)
		cfg := jetstream.KeyValueConfig{Bucket: "cfg", History: 7, TTL: time.Hour, Description: "kept", MaxValueSize: 1024}
		newBucket(t, ctx, js, cfg, false)
		s, err := js.Stream(ctx, "KV_cfg")
		if err != nil {
			t.Fatal(err)
		}
		before := s.CachedInfo().Config
		if err := kvtxn.EnableTransactions(ctx, js, "cfg"); err != nil {
			t.Fatal(err)
		}
		on, err := kvtxn.TransactionsEnabled(ctx, js, "cfg")
		if err != nil || !on {
			t.Fatalf("enabled: %v %v", on, err)
		}
		s, _ = js.Stream(ctx, "KV_cfg")
		after := s.CachedInfo().Config
		if after.MaxMsgsPerSubject != 7 || after.MaxAge != time.Hour || after.Description != "kept" ||
			after.MaxMsgSize != 1024 || after.AllowDirect != before.AllowDirect || after.AllowRollup != before.AllowRollup ||
			after.DenyDelete != before.DenyDelete || after.Discard != before.Discard {
			t.Errorf("settings changed by EnableTransactions:\nbefore %+v\nafter  %+v", before, after)
		}
		// The documented pitfall: nats.go's UpdateKeyValue drops allow_atomic.
		if _, err := js.UpdateKeyValue(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		if on, _ := kvtxn.TransactionsEnabled(ctx, js, "cfg"); on {
			t.Errorf("UpdateKeyValue kept allow_atomic; docs say it clears it")
		}
	})
}
