package kvsync_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/kvsync"
)

// Run a job on one machine at a time. The lease's context ends if the lock
// is lost, and its token lets the job's output reject a stale writer.
func ExampleLock() {
	ctx := context.Background()
	nc, err := nats.Connect(nats.DefaultURL)
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	locks, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "locks", TTL: 30 * time.Second})
	if err != nil {
		panic(err)
	}

	lease, err := kvsync.Lock(ctx, locks, "nightly-report", &kvsync.LockOptions{Value: []byte("report worker 7")})
	if err != nil {
		panic(err)
	}
	defer lease.Release(context.Background())
	report := func(ctx context.Context, token uint64) error { return nil } // the protected work
	if err := report(lease.Context(), lease.Token()); err != nil && errors.Is(lease.Err(), kvsync.ErrLockLost) {
		fmt.Println("lost the lock while reporting:", lease.Err())
	}
}

// Fail at once when someone else holds the lock.
func ExampleTryLock() {
	ctx := context.Background()
	nc, _ := nats.Connect(nats.DefaultURL)
	defer nc.Close()
	js, _ := jetstream.New(nc)
	locks, _ := js.KeyValue(ctx, "locks")

	lease, err := kvsync.TryLock(ctx, locks, "deploy", nil)
	var held *kvsync.LockedError
	if errors.As(err, &held) {
		fmt.Printf("deploy is running elsewhere: %s\n", held.Holder)
		return
	}
	if err != nil {
		panic(err)
	}
	defer lease.Release(ctx)
	// deploy...
}

// Increment a counter without losing concurrent increments.
func ExampleUpdate() {
	ctx := context.Background()
	nc, _ := nats.Connect(nats.DefaultURL)
	defer nc.Close()
	js, _ := jetstream.New(nc)
	counters, _ := js.KeyValue(ctx, "counters")

	res, err := kvsync.Update(ctx, counters, "visits", func(cur jetstream.KeyValueEntry) ([]byte, error) {
		n := 0
		if cur != nil {
			var err error
			if n, err = strconv.Atoi(string(cur.Value())); err != nil {
				return nil, err // not a counter: abort, write nothing
			}
		}
		return []byte(strconv.Itoa(n + 1)), nil
	}, &kvsync.UpdateOptions{MaxAttempts: 50})
	if err != nil {
		panic(err)
	}
	fmt.Printf("visits = %s at revision %d\n", res.Value, res.Revision)
}
