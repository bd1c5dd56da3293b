package kvsync

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

var (
	// ErrLocked is matched (errors.Is) by the *LockedError that TryLock
	// returns when another holder has the lock.
	ErrLocked = errors.New("kvsync: lock is held by another holder")
	// ErrLockLost is wrapped by [Lease.Err] and [Lease.Release] once a lease
	// could not be kept alive.
	ErrLockLost = errors.New("kvsync: lock lost")
	// ErrReleased is returned by [Lease.Err] after a successful Release.
	ErrReleased = errors.New("kvsync: lease released")
	// ErrBadOptions is wrapped by the error returned for LockOptions that
	// do not fit the bucket's TTL.
	ErrBadOptions = errors.New("kvsync: bad lock options")
	// ErrNoTTL is returned when a lock is taken in a bucket without a TTL:
	// such a lock would never be freed if its holder died.
	ErrNoTTL = errors.New("kvsync: bucket has no TTL")
)

// LockedError reports who holds a lock. It matches [ErrLocked].
type LockedError struct {
	Bucket string
	Key    string
	// Holder is the value stored by the current holder, nil if the key
	// could not be read (for example because it expired meanwhile).
	Holder []byte
	// Revision and Since describe the holder's last write, when known.
	Revision uint64
	Since    time.Time
}

func (e *LockedError) Error() string {
	if e.Holder == nil {
		return fmt.Sprintf("kvsync: lock %q in bucket %q is held by another holder", e.Key, e.Bucket)
	}
	return fmt.Sprintf("kvsync: lock %q in bucket %q is held by %q (revision %d, refreshed %s)",
		e.Key, e.Bucket, e.Holder, e.Revision, e.Since.Format(time.RFC3339))
}

// Is reports whether target is ErrLocked.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// LockOptions tunes a lock. The zero value (or a nil pointer) gives the
// defaults documented on each field; durations are derived from the bucket's
// TTL, which the lock reads from the server.
type LockOptions struct {
	// Value is stored in the key while the lock is held, so that others can
	// see who holds it. Default: "pid <pid> on <hostname>".
	Value []byte
	// KeepAlive is the time between two refreshes. Default: TTL/3. It must
	// be shorter than TTL - Margin.
	KeepAlive time.Duration
	// Margin is how much earlier than the server the holder considers its
	// lease expired, to absorb clock-rate differences. Default: TTL/10.
	Margin time.Duration
	// RetryInterval is how often Lock tries again while it waits (it also
	// tries as soon as it sees the key deleted). Default: TTL/10, at least
	// 10ms and at most 1s.
	RetryInterval time.Duration
}

// lockConfig is LockOptions with the defaults applied.
type lockConfig struct {
	value                       []byte
	ttl, keepAlive, margin, try time.Duration
}

func newLockConfig(ctx context.Context, kv jetstream.KeyValue, opts *LockOptions) (lockConfig, error) {
	var o LockOptions
	if opts != nil {
		o = *opts
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return lockConfig{}, err
	}
	c := lockConfig{value: o.Value, ttl: st.TTL(), keepAlive: o.KeepAlive, margin: o.Margin, try: o.RetryInterval}
	if c.ttl <= 0 {
		return c, fmt.Errorf("%w: bucket %q keeps values forever, so a lock would outlive a dead holder", ErrNoTTL, kv.Bucket())
	}
	if c.value == nil {
		host, _ := os.Hostname()
		c.value = fmt.Appendf(nil, "pid %d on %s", os.Getpid(), host)
	}
	if c.keepAlive <= 0 {
		c.keepAlive = c.ttl / 3
	}
	if c.margin <= 0 {
		c.margin = c.ttl / 10
	}
	if c.try <= 0 {
		c.try = min(max(c.ttl/10, 10*time.Millisecond), time.Second)
	}
	if c.keepAlive >= c.ttl-c.margin {
		return c, fmt.Errorf("%w: keep-alive interval %s must be shorter than the TTL %s minus the margin %s", ErrBadOptions, c.keepAlive, c.ttl, c.margin)
	}
	return c, nil
}

// TryLock takes the lock on key in kv if it is free, and fails at once with a
// *LockedError (matching ErrLocked) if another holder has it. The bucket must
// have a TTL (ErrNoTTL otherwise). ctx bounds only the attempt, not the lease:
// on success the lease is kept alive in the background until Release or
// until it is lost. opts may be nil.
func TryLock(ctx context.Context, kv jetstream.KeyValue, key string, opts *LockOptions) (*Lease, error) {
	c, err := newLockConfig(ctx, kv, opts)
	if err != nil {
		return nil, err
	}
	return tryLock(ctx, kv, key, c)
}

// Lock is TryLock that waits while another holder has the lock. It tries
// again every RetryInterval and as soon as it sees the key deleted or purged,
// until it gets the lock or ctx ends. When ctx ends, the error wraps both
// ctx's error and the last *LockedError. Other errors (server unreachable,
// invalid key) end the wait at once.
func Lock(ctx context.Context, kv jetstream.KeyValue, key string, opts *LockOptions) (*Lease, error) {
	c, err := newLockConfig(ctx, kv, opts)
	if err != nil {
		return nil, err
	}
	lease, err := tryLock(ctx, kv, key, c)
	if !errors.Is(err, ErrLocked) {
		return lease, err
	}
	// Wake up early on deletes: a released lock is deleted by its holder.
	// Expiry by TTL produces no event (unless the bucket has limit markers),
	// hence the timer as well.
	var events <-chan jetstream.KeyValueEntry
	if w, werr := kv.Watch(ctx, key, jetstream.UpdatesOnly()); werr == nil {
		defer w.Stop()
		events = w.Updates()
	}
	timer := time.NewTimer(c.try)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("kvsync: gave up waiting for lock %q: %w: %w", key, context.Cause(ctx), err)
		case _, ok := <-events:
			if !ok {
				events = nil
				continue
			}
		case <-timer.C:
		}
		lease, err = tryLock(ctx, kv, key, c)
		if !errors.Is(err, ErrLocked) {
			return lease, err
		}
		timer.Reset(c.try)
	}
}

func tryLock(ctx context.Context, kv jetstream.KeyValue, key string, c lockConfig) (*Lease, error) {
	sent := time.Now()
	rev, err := kv.Create(ctx, key, c.value)
	if err == nil {
		return startLease(kv, key, rev, sent, c), nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return nil, err
	}
	le := &LockedError{Bucket: kv.Bucket(), Key: key}
	if e, gerr := kv.Get(ctx, key); gerr == nil {
		le.Holder, le.Revision, le.Since = e.Value(), e.Revision(), e.Created()
	}
	return nil, le
}
