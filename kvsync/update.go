package kvsync

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrTooManyConflicts is wrapped by the error Update returns when every one
// of UpdateOptions.MaxAttempts attempts met a concurrent write.
var ErrTooManyConflicts = errors.New("kvsync: too many revision conflicts")

// UpdateFunc computes a key's new value from its current entry, which is nil
// when the key has no value (never written, deleted, purged or expired). It
// may be called several times for one Update, so it must not have side
// effects. An error aborts the Update without writing anything.
type UpdateFunc func(current jetstream.KeyValueEntry) ([]byte, error)

// UpdateOptions tunes Update. The zero value (or a nil pointer) gives the
// defaults documented on each field.
type UpdateOptions struct {
	// MaxAttempts bounds the number of read-compute-write rounds. Zero
	// means no bound other than the context.
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the randomized pause after a
	// conflict, which doubles with each conflict. Defaults: 2ms and 250ms.
	MinBackoff, MaxBackoff time.Duration
}

// UpdateResult describes a successful Update.
type UpdateResult struct {
	// Revision is the revision of the written value.
	Revision uint64
	// Value is the written value.
	Value []byte
	// Attempts is the number of rounds, 1 when there was no conflict.
	Attempts int
}

// Update reads key, calls fn with the current entry and writes fn's result
// only if the key has not changed since it was read: with Update at the read
// revision, or with Create if the key had no value. When another writer got
// there first it pauses briefly and starts again, so no concurrent update is
// lost. It returns fn's error (wrapped) if fn fails, an error wrapping
// ErrTooManyConflicts after MaxAttempts conflicts, ctx's error when ctx ends,
// and the server's error otherwise. opts may be nil.
func Update(ctx context.Context, kv jetstream.KeyValue, key string, fn UpdateFunc, opts *UpdateOptions) (UpdateResult, error) {
	var o UpdateOptions
	if opts != nil {
		o = *opts
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 2 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(250*time.Millisecond, o.MinBackoff)
	}
	backoff := o.MinBackoff
	for attempt := 1; ; attempt++ {
		rev, value, conflict, err := updateOnce(ctx, kv, key, fn)
		if err == nil {
			return UpdateResult{Revision: rev, Value: value, Attempts: attempt}, nil
		}
		if !conflict {
			return UpdateResult{Attempts: attempt}, err
		}
		if o.MaxAttempts > 0 && attempt >= o.MaxAttempts {
			return UpdateResult{Attempts: attempt}, fmt.Errorf("%w: key %q changed under each of %d attempts: %w", ErrTooManyConflicts, key, attempt, err)
		}
		// Full jitter: a random pause up to the current bound spreads
		// contenders apart.
		pause := time.Duration(rand.Int64N(int64(backoff)) + 1)
		backoff = min(2*backoff, o.MaxBackoff)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return UpdateResult{Attempts: attempt}, fmt.Errorf("kvsync: update of %q: %w", key, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// updateOnce does one read-compute-write round; conflict reports that the
// write failed because the key changed since it was read.
func updateOnce(ctx context.Context, kv jetstream.KeyValue, key string, fn UpdateFunc) (rev uint64, value []byte, conflict bool, err error) {
	cur, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		cur, err = nil, nil
	}
	if err != nil {
		return 0, nil, false, err
	}
	value, err = fn(cur)
	if err != nil {
		return 0, nil, false, fmt.Errorf("kvsync: update of %q aborted: %w", key, err)
	}
	if cur == nil {
		rev, err = kv.Create(ctx, key, value)
	} else {
		rev, err = kv.Update(ctx, key, value, cur.Revision())
	}
	return rev, value, err != nil && isConflict(err), err
}

// isConflict reports whether a write failed because the key changed since
// it was read. Both errors come from the server's "wrong last sequence"
// answer (err_code 10071).
func isConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists)
}
