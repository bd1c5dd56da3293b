package kvsync_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/kvsync"
)

func locksConfig(ttl time.Duration) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{Bucket: "locks", TTL: ttl}
}

func TestTryLockExcludesAndReleaseFrees(t *testing.T) {
	url := startServer(t)
	ctx := testContext(t)
	kv, _ := bucket(t, url, locksConfig(time.Minute), true)

	a, err := kvsync.TryLock(ctx, kv, "job", &kvsync.LockOptions{Value: []byte("holder-a")})
	if err != nil {
		t.Fatalf("first TryLock: %v", err)
	}
	_, err = kvsync.TryLock(ctx, kv, "job", &kvsync.LockOptions{Value: []byte("holder-b")})
	var le *kvsync.LockedError
	if !errors.Is(err, kvsync.ErrLocked) || !errors.As(err, &le) {
		t.Fatalf("second TryLock: got %v, want a *LockedError", err)
	}
	if string(le.Holder) != "holder-a" || le.Revision != a.Revision() || le.Key != "job" || le.Bucket != "locks" {
		t.Fatalf("LockedError = %+v, want holder-a at revision %d", le, a.Revision())
	}
	if err := a.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if !errors.Is(a.Err(), kvsync.ErrReleased) {
		t.Fatalf("Err after Release = %v, want ErrReleased", a.Err())
	}
	if err := a.Release(ctx); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	select {
	case <-a.Done():
	default:
		t.Fatal("Done not closed after Release")
	}

	b, err := kvsync.TryLock(ctx, kv, "job", nil)
	if err != nil {
		t.Fatalf("TryLock after release: %v", err)
	}
	defer b.Release(ctx)
	if b.Token() <= a.Token() {
		t.Fatalf("fencing token did not grow: %d then %d", a.Token(), b.Token())
	}
	if b.Key() != "job" || b.Deadline().IsZero() {
		t.Fatalf("lease key %q deadline %v", b.Key(), b.Deadline())
	}
}

func TestLockNeedsTTL(t *testing.T) {
	url := startServer(t)
	ctx := testContext(t)
	kv, _ := bucket(t, url, jetstream.KeyValueConfig{Bucket: "forever"}, true)
	if _, err := kvsync.TryLock(ctx, kv, "job", nil); !errors.Is(err, kvsync.ErrNoTTL) {
		t.Fatalf("TryLock: %v, want ErrNoTTL", err)
	}
	if _, err := kvsync.Lock(ctx, kv, "job", nil); !errors.Is(err, kvsync.ErrNoTTL) {
		t.Fatalf("Lock: %v, want ErrNoTTL", err)
	}
}

func TestLockRejectsBadOptionsAndKeys(t *testing.T) {
	url := startServer(t)
	ctx := testContext(t)
	kv, _ := bucket(t, url, locksConfig(time.Second), true)
	_, err := kvsync.TryLock(ctx, kv, "job", &kvsync.LockOptions{KeepAlive: time.Second})
	if !errors.Is(err, kvsync.ErrBadOptions) {
		t.Fatal("TryLock accepted a keep-alive as long as the TTL")
	}
	if _, err := kvsync.Lock(ctx, kv, "bad key", nil); !errors.Is(err, jetstream.ErrInvalidKey) {
		t.Fatalf("Lock(bad key) = %v, want ErrInvalidKey", err)
	}
}

// A lease outlives the TTL as long as it is refreshed.
func TestLeaseKeepAliveOutlivesTTL(t *testing.T) {
	url := startServer(t)
	ctx := testContext(t)
	const ttl = 1500 * time.Millisecond
	kv, _ := bucket(t, url, locksConfig(ttl), true)
	a, err := kvsync.TryLock(ctx, kv, "job", nil)
	if err != nil {
		t.Fatal(err)
	}
	first := a.Revision()
	// Hold for 2 TTLs: the point of the test is that time passes.
	holdUntil := time.Now().Add(2 * ttl)
	eventually(t, 10*time.Second, "2 TTLs to pass", func() bool { return time.Now().After(holdUntil) })
	if err := a.Err(); err != nil {
		t.Fatalf("lease lost while refreshed: %v", err)
	}
	if a.Revision() <= first {
		t.Fatalf("no refresh happened: revision still %d", a.Revision())
	}
	if _, err := kvsync.TryLock(ctx, kv, "job", nil); !errors.Is(err, kvsync.ErrLocked) {
		t.Fatalf("TryLock by another holder: %v, want ErrLocked", err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// Two contenders with their own connections increment a counter with a
// plain, non-atomic Get then Put, which would lose increments without
// mutual exclusion.
func TestLockTwoContenders(t *testing.T) {
	url := startServer(t)
	ctx := testContext(t)
	kv, _ := bucket(t, url, locksConfig(2*time.Second), true)
	const rounds = 25
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		holders int
		errs    = make(chan error, 2)
	)
	for c := range 2 {
		kv, _ := bucket(t, url, locksConfig(0), false)
		wg.Go(func() {
			for range rounds {
				lease, err := kvsync.Lock(ctx, kv, "job", &kvsync.LockOptions{Value: []byte("contender " + strconv.Itoa(c))})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				holders++
				if holders != 1 {
					errs <- errors.New("two holders at once")
				}
				mu.Unlock()
				n := 0
				if e, err := kv.Get(ctx, "counter"); err == nil {
					n, _ = strconv.Atoi(string(e.Value()))
				}
				if _, err := kv.Put(ctx, "counter", []byte(strconv.Itoa(n+1))); err != nil {
					errs <- err
				}
				mu.Lock()
				holders--
				mu.Unlock()
				if err := lease.Release(ctx); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	e, err := kv.Get(ctx, "counter")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(e.Value()); got != strconv.Itoa(2*rounds) {
		t.Fatalf("counter = %s, want %d", got, 2*rounds)
	}
}

// A holder that dies (its connection closes, so it refreshes no more) keeps
// the lock until the TTL has passed since its last refresh, by the server's
// clock, and not a moment less; then a waiting contender gets it.
func TestLockFreedByTTLAfterHolderDies(t *testing.T) {
	url := startServer(t)
	ctx := testContext(t)
	const ttl = 1500 * time.Millisecond
	kv, _ := bucket(t, url, locksConfig(ttl), true)
	holderKV, holderConn := bucket(t, url, locksConfig(0), false)
	holder, err := kvsync.TryLock(ctx, holderKV, "job", &kvsync.LockOptions{Value: []byte("doomed")})
	if err != nil {
		t.Fatal(err)
	}
	// Let it refresh at least once, then kill it.
	eventually(t, 10*time.Second, "a refresh", func() bool { return holder.Revision() > holder.Token() })
	holderConn.Close()
	last, err := kv.Get(ctx, "job")
	if err != nil {
		t.Fatalf("reading the dead holder's last refresh: %v", err)
	}

	lease, err := kvsync.Lock(ctx, kv, "job", &kvsync.LockOptions{RetryInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("contender: %v", err)
	}
	defer lease.Release(ctx)
	taken, err := kv.GetRevision(ctx, "job", lease.Token())
	if err != nil {
		t.Fatal(err)
	}
	if held := taken.Created().Sub(last.Created()); held < ttl {
		t.Fatalf("lock taken %s after the dead holder's last refresh, before the TTL %s", held, ttl)
	}
	eventually(t, 10*time.Second, "the dead holder to notice", func() bool { return holder.Err() != nil })
	if !errors.Is(holder.Err(), kvsync.ErrLockLost) {
		t.Fatalf("dead holder's Err = %v, want ErrLockLost", holder.Err())
	}
	if err := holder.Release(ctx); !errors.Is(err, kvsync.ErrLockLost) {
		t.Fatalf("dead holder's Release = %v, want ErrLockLost", err)
	}
}

// Someone overwriting the key makes the holder's next refresh fail: the
// lease is lost at once and Release leaves the key alone.
func TestLeaseLostWhenKeyOverwritten(t *testing.T) {
	url := startServer(t)
	ctx := testContext(t)
	kv, _ := bucket(t, url, locksConfig(900*time.Millisecond), true)
	lease, err := kvsync.TryLock(ctx, kv, "job", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "job", []byte("intruder")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lease.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("lease not lost after the key was overwritten")
	}
	if !errors.Is(lease.Err(), kvsync.ErrLockLost) || !errors.Is(context.Cause(lease.Context()), kvsync.ErrLockLost) {
		t.Fatalf("Err = %v, want ErrLockLost", lease.Err())
	}
	if err := lease.Release(ctx); !errors.Is(err, kvsync.ErrLockLost) {
		t.Fatalf("Release = %v, want ErrLockLost", err)
	}
	e, err := kv.Get(ctx, "job")
	if err != nil || string(e.Value()) != "intruder" {
		t.Fatalf("key after Release = %v, %v; want intruder's value kept", e, err)
	}
}

// Release between refreshes after someone else deleted the key reports the
// loss.
func TestReleaseAfterKeyDeleted(t *testing.T) {
	url := startServer(t)
	ctx := testContext(t)
	kv, _ := bucket(t, url, locksConfig(time.Minute), true)
	lease, err := kvsync.TryLock(ctx, kv, "job", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, "job"); err != nil {
		t.Fatal(err)
	}
	if err := lease.Release(ctx); !errors.Is(err, kvsync.ErrLockLost) {
		t.Fatalf("Release = %v, want ErrLockLost", err)
	}
}

func TestLockWaitGivesUp(t *testing.T) {
	url := startServer(t)
	ctx := testContext(t)
	kv, _ := bucket(t, url, locksConfig(time.Minute), true)
	a, err := kvsync.TryLock(ctx, kv, "job", &kvsync.LockOptions{Value: []byte("holder-a")})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release(ctx)
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = kvsync.Lock(wctx, kv, "job", nil)
	var le *kvsync.LockedError
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &le) || string(le.Holder) != "holder-a" {
		t.Fatalf("Lock = %v, want deadline exceeded naming holder-a", err)
	}
}

// A waiting Lock wakes up on the holder's release, not on its next poll.
func TestLockWakesOnRelease(t *testing.T) {
	url := startServer(t)
	ctx := testContext(t)
	kv, _ := bucket(t, url, locksConfig(time.Minute), true)
	a, err := kvsync.TryLock(ctx, kv, "job", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *kvsync.Lease, 1)
	waiterKV, _ := bucket(t, url, locksConfig(0), false)
	go func() {
		l, err := kvsync.Lock(ctx, waiterKV, "job", &kvsync.LockOptions{RetryInterval: time.Hour})
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	// The waiter's first TryLock must fail before the release for the test
	// to mean anything: wait until it watches (a consumer exists).
	eventually(t, 10*time.Second, "the waiter to watch the key", func() bool {
		st, err := kv.Status(ctx)
		return err == nil && st.(*jetstream.KeyValueBucketStatus).StreamInfo().State.Consumers > 0
	})
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case l := <-got:
		if l == nil {
			t.Fatal("waiter failed")
		}
		l.Release(ctx)
	case <-time.After(10 * time.Second):
		t.Fatal("waiter did not wake up on release")
	}
}
