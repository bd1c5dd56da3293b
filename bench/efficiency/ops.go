package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The client side of each phase, through nats.go: loading, puts, gets,
// contended compare-and-set, WatchAll and ListKeys.

const (
	bucket    = "eff"
	valueSize = 128
	// loadWindow is how many asynchronous publishes loading keeps in
	// flight (below nats.go's default limit of 4000).
	loadWindow = 2000
	// opTimeout bounds one request.
	opTimeout = 10 * time.Second
)

// keyName returns the i-th key: k.0000000, k.0000001, ...
func keyName(i int) string {
	s := strconv.Itoa(i)
	return "k." + strings.Repeat("0", max(0, 7-len(s))) + s
}

// value returns valueSize random bytes: incompressible, so that neither
// server's storage gains from compression that real data would not give.
func value(r *rand.Rand) []byte {
	b := make([]byte, valueSize)
	for i := 0; i < len(b); i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < len(b); j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// client is one nats.go connection with its JetStream and KV handles.
type client struct {
	nc *nats.Conn
	js jetstream.JetStream
	kv jetstream.KeyValue
}

// dial connects to url; when create is set it creates the bucket
// (history 1), else it binds to it.
func dial(ctx context.Context, url string, create bool) (*client, error) {
	nc, err := nats.Connect(url, nats.NoReconnect(), nats.Timeout(5*time.Second))
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	var kv jetstream.KeyValue
	if create {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket, History: 1})
	} else {
		kv, err = js.KeyValue(ctx, bucket)
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &client{nc: nc, js: js, kv: kv}, nil
}

func (c *client) close() { c.nc.Close() }

// load publishes n keys of valueSize bytes to $KV.<bucket>.<key>,
// pipelined (loadWindow acknowledgements outstanding), and returns once
// every one is acknowledged.
func (c *client) load(ctx context.Context, n int) error {
	r := rand.New(rand.NewPCG(1, 2))
	ring := make([]jetstream.PubAckFuture, loadWindow)
	wait := func(f jetstream.PubAckFuture, i int) error {
		select {
		case <-f.Ok():
			return nil
		case err := <-f.Err():
			return fmt.Errorf("key %d: %w", i, err)
		case <-ctx.Done():
			return fmt.Errorf("waiting for the ack of key %d: %w", i, ctx.Err())
		}
	}
	for i := 0; i < n; i++ {
		slot := i % loadWindow
		if i >= loadWindow {
			if err := wait(ring[slot], i-loadWindow); err != nil {
				return err
			}
		}
		f, err := c.js.PublishAsync("$KV."+bucket+"."+keyName(i), value(r))
		if err != nil {
			return fmt.Errorf("publish key %d: %w", i, err)
		}
		ring[slot] = f
	}
	for i := max(0, n-loadWindow); i < n; i++ {
		if err := wait(ring[i%loadWindow], i); err != nil {
			return err
		}
	}
	return nil
}

// parallel runs work on each of clients in its own goroutine and returns
// the first error.
func parallel(clients []*client, work func(i int, c *client) error) error {
	var wg sync.WaitGroup
	errs := make([]error, len(clients))
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = work(i, c)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// puts makes ops synchronous puts over the clients (ops/len each, one at
// a time per client) to random existing keys of an n-key bucket.
func puts(ctx context.Context, clients []*client, n, ops int) error {
	return parallel(clients, func(w int, c *client) error {
		r := rand.New(rand.NewPCG(uint64(w), 3))
		for j := 0; j < ops/len(clients); j++ {
			octx, cancel := context.WithTimeout(ctx, opTimeout)
			_, err := c.kv.Put(octx, keyName(r.IntN(n)), value(r))
			cancel()
			if err != nil {
				return fmt.Errorf("put: %w", err)
			}
		}
		return nil
	})
}

// gets makes ops gets of random keys of an n-key bucket, like puts.
func gets(ctx context.Context, clients []*client, n, ops int) error {
	return parallel(clients, func(w int, c *client) error {
		r := rand.New(rand.NewPCG(uint64(w), 4))
		for j := 0; j < ops/len(clients); j++ {
			octx, cancel := context.WithTimeout(ctx, opTimeout)
			e, err := c.kv.Get(octx, keyName(r.IntN(n)))
			cancel()
			if err != nil {
				return fmt.Errorf("get: %w", err)
			}
			if len(e.Value()) != valueSize {
				return fmt.Errorf("get %s: %d bytes", e.Key(), len(e.Value()))
			}
		}
		return nil
	})
}

// casResult counts a contended compare-and-set phase.
type casResult struct {
	succeeded, failed int64 // Update attempts that won or lost
	rereads           int64 // gets after a loss whose error did not give the revision
}

// contendedCAS has the clients update the same key with kv.Update
// (expected last revision) until they have made ops attempts in all.
// A loser takes the current revision from the error ("wrong last
// sequence: N", both servers' text) and tries again; only if that text
// cannot be parsed does it read the key.
func contendedCAS(ctx context.Context, clients []*client, key string, ops int) (casResult, error) {
	var res casResult
	var attempts atomic.Int64
	err := parallel(clients, func(w int, c *client) error {
		r := rand.New(rand.NewPCG(uint64(w), 5))
		octx, cancel := context.WithTimeout(ctx, opTimeout)
		e, err := c.kv.Get(octx, key)
		cancel()
		if err != nil {
			return fmt.Errorf("cas get: %w", err)
		}
		rev := e.Revision()
		for attempts.Add(1) <= int64(ops) {
			octx, cancel := context.WithTimeout(ctx, opTimeout)
			next, err := c.kv.Update(octx, key, value(r), rev)
			cancel()
			if err == nil {
				atomic.AddInt64(&res.succeeded, 1)
				rev = next
				continue
			}
			if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
				return fmt.Errorf("cas update: %w", err)
			}
			atomic.AddInt64(&res.failed, 1)
			if seq, ok := wrongLastSequence(err); ok {
				rev = seq
				continue
			}
			atomic.AddInt64(&res.rereads, 1)
			octx, cancel = context.WithTimeout(ctx, opTimeout)
			e, err := c.kv.Get(octx, key)
			cancel()
			if err != nil {
				return fmt.Errorf("cas reread: %w", err)
			}
			rev = e.Revision()
		}
		return nil
	})
	return res, err
}

// wrongLastSequence returns N from an API error "wrong last sequence: N".
func wrongLastSequence(err error) (uint64, bool) {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return 0, false
	}
	s, ok := strings.CutPrefix(apiErr.Description, "wrong last sequence: ")
	if !ok {
		return 0, false
	}
	seq, perr := strconv.ParseUint(s, 10, 64)
	return seq, perr == nil
}

// watchAll starts a WatchAll and waits for its initial delivery of n
// entries (to the end-of-initial-data marker). The caller stops the
// returned watcher.
func (c *client) watchAll(ctx context.Context, n int) (jetstream.KeyWatcher, error) {
	w, err := c.kv.WatchAll(ctx)
	if err != nil {
		return nil, err
	}
	got := 0
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				_ = w.Stop()
				return nil, fmt.Errorf("watcher closed after %d of %d entries", got, n)
			}
			if e != nil {
				got++
				continue
			}
			if got != n {
				_ = w.Stop()
				return nil, fmt.Errorf("watch delivered %d of %d entries", got, n)
			}
			return w, nil
		case <-ctx.Done():
			_ = w.Stop()
			return nil, fmt.Errorf("watch after %d of %d entries: %w", got, n, ctx.Err())
		}
	}
}

// listKeys lists the bucket's keys and checks there are n.
func (c *client) listKeys(ctx context.Context, n int) error {
	l, err := c.kv.ListKeys(ctx)
	if err != nil {
		return err
	}
	defer l.Stop()
	got := 0
	for {
		select {
		case _, ok := <-l.Keys():
			if !ok {
				if got != n {
					return fmt.Errorf("listed %d of %d keys", got, n)
				}
				return nil
			}
			got++
		case <-ctx.Done():
			return fmt.Errorf("list after %d of %d keys: %w", got, n, ctx.Err())
		}
	}
}
