package kvsync

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Lease is a held lock. A background goroutine refreshes it until Release is
// called or the lease is lost; see the package documentation for what "lost"
// means and when it happens. All methods are safe for concurrent use.
type Lease struct {
	kv    jetstream.KeyValue
	key   string
	token uint64
	cfg   lockConfig

	ctx    context.Context
	cancel context.CancelCauseFunc

	stopOnce sync.Once
	stop     chan struct{} // closed by Release
	exited   chan struct{} // closed when the keep-alive goroutine returns

	mu struct {
		sync.Mutex
		revision uint64    // revision of the holder's last successful write
		deadline time.Time // local time after which the lease is no longer trusted
	}
}

func startLease(kv jetstream.KeyValue, key string, rev uint64, sent time.Time, c lockConfig) *Lease {
	l := &Lease{
		kv: kv, key: key, token: rev, cfg: c,
		stop:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	l.ctx, l.cancel = context.WithCancelCause(context.Background())
	l.mu.revision = rev
	l.mu.deadline = sent.Add(c.ttl - c.margin)
	go l.keepAlive()
	return l
}

// Key returns the locked key.
func (l *Lease) Key() string { return l.key }

// Token returns the revision at which the lock was taken: a fencing token,
// strictly greater than the token of every earlier holder of the same key.
func (l *Lease) Token() uint64 { return l.token }

// Revision returns the revision of the holder's latest refresh.
func (l *Lease) Revision() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.revision
}

// Deadline returns the local time until which the lease is trusted unless it
// is refreshed again.
func (l *Lease) Deadline() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.deadline
}

// Done is closed when the lease ends: lost or released.
func (l *Lease) Done() <-chan struct{} { return l.ctx.Done() }

// Context returns a context that is cancelled when the lease ends; its
// context.Cause is the same as Err. Use it for the work the lock protects.
func (l *Lease) Context() context.Context { return l.ctx }

// Err returns nil while the lease is held, an error wrapping ErrLockLost once
// it is lost, and ErrReleased after a successful Release.
func (l *Lease) Err() error {
	if l.ctx.Err() == nil {
		return nil
	}
	return context.Cause(l.ctx)
}

// Release stops the keep-alive and deletes the key if it still holds this
// lease's latest revision, so that a waiting holder can take the lock at
// once. It returns an error wrapping ErrLockLost if the lease was lost before
// (the key is then left alone), or the delete's error if the server could not
// be reached (the key then expires after the TTL). If a refresh is in flight
// Release waits for it, at most until the lease's deadline. Release may be
// called more than once; later calls return nil if the first succeeded,
// else the first call's error.
func (l *Lease) Release(ctx context.Context) error {
	l.stopOnce.Do(func() { close(l.stop) })
	<-l.exited
	if err := l.Err(); err != nil {
		if errors.Is(err, ErrReleased) {
			return nil
		}
		return err
	}
	err := l.kv.Delete(ctx, l.key, jetstream.LastRevision(l.Revision()))
	switch {
	case err == nil:
		l.cancel(ErrReleased)
		return nil
	case errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		err = fmt.Errorf("%w: key %q changed before it could be released: %w", ErrLockLost, l.key, err)
	default:
		err = fmt.Errorf("kvsync: release of lock %q (it will expire after its TTL): %w", l.key, err)
	}
	l.cancel(err)
	return err
}

// keepAlive refreshes the lease every cfg.keepAlive until Release or loss.
func (l *Lease) keepAlive() {
	defer close(l.exited)
	next := time.NewTimer(l.cfg.keepAlive)
	defer next.Stop()
	expire := time.NewTimer(time.Until(l.Deadline()))
	defer expire.Stop()
	var lastErr error // of the latest failed refresh, reported if the lease is lost
	for {
		select {
		case <-l.stop:
			return
		case <-expire.C:
			l.lose(lastErr)
			return
		case <-next.C:
		}
		deadline := l.Deadline()
		if !time.Now().Before(deadline) {
			l.lose(lastErr)
			return
		}
		sent := time.Now()
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		rev, err := l.kv.Update(ctx, l.key, l.cfg.value, l.Revision())
		cancel()
		switch {
		case err == nil:
			l.mu.Lock()
			l.mu.revision = rev
			l.mu.deadline = sent.Add(l.cfg.ttl - l.cfg.margin)
			l.mu.Unlock()
			expire.Reset(time.Until(l.Deadline()))
			next.Reset(l.cfg.keepAlive)
		case errors.Is(err, jetstream.ErrKeyRevisionMismatch):
			l.cancel(fmt.Errorf("%w: key %q was changed by someone else (it expired and was taken, or was deleted or overwritten): %w",
				ErrLockLost, l.key, err))
			return
		default:
			// Transient (timeout, reconnecting): try again soon, until the
			// deadline.
			lastErr = err
			next.Reset(max(l.cfg.keepAlive/4, time.Millisecond))
		}
	}
}

// lose ends the lease because no refresh succeeded before the deadline;
// cause is the last refresh error, if any.
func (l *Lease) lose(cause error) {
	err := fmt.Errorf("%w: no refresh of key %q succeeded within the TTL (%s)", ErrLockLost, l.key, l.cfg.ttl)
	if cause != nil {
		err = fmt.Errorf("%w: %w", err, cause)
	}
	l.cancel(err)
}
