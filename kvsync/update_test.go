package kvsync_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/kvsync"
)

func countersConfig() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{Bucket: "counters", History: 5}
}

// increment is an UpdateFunc adding one to a decimal counter.
func increment(cur jetstream.KeyValueEntry) ([]byte, error) {
	n := 0
	if cur != nil {
		var err error
		if n, err = strconv.Atoi(string(cur.Value())); err != nil {
			return nil, err
		}
	}
	return []byte(strconv.Itoa(n + 1)), nil
}

func TestUpdateCreatesThenIncrements(t *testing.T) {
	url := startServer(t)
	ctx := testContext(t)
	kv, _ := bucket(t, url, countersConfig(), true)
	res, err := kvsync.Update(ctx, kv, "visits", increment, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Value) != "1" || res.Attempts != 1 || res.Revision == 0 {
		t.Fatalf("first update = %+v", res)
	}
	res, err = kvsync.Update(ctx, kv, "visits", increment, nil)
	if err != nil || string(res.Value) != "2" {
		t.Fatalf("second update = %+v, %v", res, err)
	}
	// A deleted key counts as absent: the function sees nil.
	if err := kv.Delete(ctx, "visits"); err != nil {
		t.Fatal(err)
	}
	res, err = kvsync.Update(ctx, kv, "visits", increment, nil)
	if err != nil || string(res.Value) != "1" {
		t.Fatalf("update after delete = %+v, %v", res, err)
	}
	e, err := kv.Get(ctx, "visits")
	if err != nil || e.Revision() != res.Revision {
		t.Fatalf("stored entry %v, %v; want revision %d", e, err, res.Revision)
	}
}

// Eight updaters, each with its own connection, increment one counter
// concurrently: every increment must land.
func TestUpdateEightConcurrentUpdatersLoseNothing(t *testing.T) {
	url := startServer(t)
	ctx := testContext(t)
	kv, _ := bucket(t, url, countersConfig(), true)
	const updaters, each = 8, 25
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		conflicts int
	)
	errs := make(chan error, updaters)
	for range updaters {
		kv, _ := bucket(t, url, countersConfig(), false)
		wg.Go(func() {
			for range each {
				res, err := kvsync.Update(ctx, kv, "hits", increment, nil)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				conflicts += res.Attempts - 1
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, "hits")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(e.Value()); got != strconv.Itoa(updaters*each) {
		t.Fatalf("counter = %s, want %d (conflicts retried: %d)", got, updaters*each, conflicts)
	}
	t.Logf("%d increments, %d conflicts retried", updaters*each, conflicts)
}

func TestUpdateAbortWritesNothing(t *testing.T) {
	url := startServer(t)
	ctx := testContext(t)
	kv, _ := bucket(t, url, countersConfig(), true)
	if _, err := kv.Put(ctx, "hits", []byte("not a number")); err != nil {
		t.Fatal(err)
	}
	_, err := kvsync.Update(ctx, kv, "hits", increment, nil)
	var numErr *strconv.NumError
	if !errors.As(err, &numErr) {
		t.Fatalf("Update = %v, want the function's error", err)
	}
	e, _ := kv.Get(ctx, "hits")
	if e == nil || string(e.Value()) != "not a number" || e.Revision() != 1 {
		t.Fatalf("value changed after an aborted update: %v", e)
	}
}

// interfere returns an UpdateFunc that writes the key itself before
// answering, so that every attempt conflicts.
func interfere(kv jetstream.KeyValue, calls *int, onCall func()) kvsync.UpdateFunc {
	return func(cur jetstream.KeyValueEntry) ([]byte, error) {
		*calls++
		if onCall != nil {
			onCall()
		}
		if _, err := kv.Put(context.Background(), "hits", []byte("other")); err != nil {
			return nil, err
		}
		return []byte("mine"), nil
	}
}

func TestUpdateGivesUpAfterMaxAttempts(t *testing.T) {
	url := startServer(t)
	ctx := testContext(t)
	kv, _ := bucket(t, url, countersConfig(), true)
	calls := 0
	res, err := kvsync.Update(ctx, kv, "hits", interfere(kv, &calls, nil), &kvsync.UpdateOptions{MaxAttempts: 3})
	if !errors.Is(err, kvsync.ErrTooManyConflicts) || !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		t.Fatalf("Update = %v, want ErrTooManyConflicts wrapping the mismatch", err)
	}
	if calls != 3 || res.Attempts != 3 {
		t.Fatalf("calls = %d, attempts = %d; want 3", calls, res.Attempts)
	}
}

func TestUpdateStopsWhenContextEnds(t *testing.T) {
	url := startServer(t)
	ctx := testContext(t)
	kv, _ := bucket(t, url, countersConfig(), true)
	uctx, cancel := context.WithCancel(ctx)
	calls := 0
	_, err := kvsync.Update(uctx, kv, "hits", interfere(kv, &calls, cancel), nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Update = %v, want context.Canceled", err)
	}
}

func TestUpdateReportsServerErrors(t *testing.T) {
	url := startServer(t)
	ctx := testContext(t)
	kv, _ := bucket(t, url, countersConfig(), true)
	if _, err := kvsync.Update(ctx, kv, "bad key", increment, nil); !errors.Is(err, jetstream.ErrInvalidKey) {
		t.Fatalf("Update(bad key) = %v, want ErrInvalidKey", err)
	}
}
