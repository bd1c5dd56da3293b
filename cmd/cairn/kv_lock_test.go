package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/internal/testserver"
	"github.com/cairn-db/cairn/kvsync"
)

// interruptingKV cancels a context at the n-th request (Status, Create or
// Get): it forces an interrupt that lands at a chosen point of a wait.
type interruptingKV struct {
	jetstream.KeyValue
	cancel func()
	calls  atomic.Int32
	at     int32
}

func (k *interruptingKV) hit() bool {
	if k.calls.Add(1) == k.at {
		k.cancel()
		return true
	}
	return false
}

func (k *interruptingKV) Status(ctx context.Context) (jetstream.KeyValueStatus, error) {
	if k.hit() {
		return nil, ctx.Err()
	}
	return k.KeyValue.Status(ctx)
}

func (k *interruptingKV) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	if k.hit() {
		return 0, ctx.Err()
	}
	return k.KeyValue.Create(ctx, key, value, opts...)
}

func (k *interruptingKV) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	if k.hit() {
		return nil, ctx.Err()
	}
	return k.KeyValue.Get(ctx, key)
}

// An interrupt can reach a waiter at any request of its wait; it always
// ends as "interrupted while waiting", naming the holder (TestScripts/lock
// once printed a bare "interrupted" on a loaded machine, when the signal
// came while Lock read the bucket's settings).
func TestLockInterruptedAtAnyRequest(t *testing.T) {
	srv := testserver.Start(t)
	js := openJS(t, srv.URL)
	ctx := context.Background()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "locks", TTL: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctx, "job", []byte("holder-a")); err != nil {
		t.Fatal(err)
	}
	// Requests 1-3 are TryLock's (Status, Create, Get); 4-6 are Lock's.
	for _, at := range []int32{4, 5, 6} {
		t.Run(fmt.Sprintf("request%d", at), func(t *testing.T) {
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			ikv := &interruptingKV{KeyValue: kv, cancel: cancel, at: at}
			a := &app{stderr: io.Discard}
			_, err := a.takeLock(cctx, ikv, "job", &kvsync.LockOptions{}, lockFlags{})
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != 130 || !strings.HasPrefix(ee.msg, `interrupted while waiting: lock "job" in bucket "locks" is held by "holder-a"`) {
				t.Fatalf("takeLock = %#v, want status 130 interrupted while waiting, naming holder-a", err)
			}
		})
	}
}
