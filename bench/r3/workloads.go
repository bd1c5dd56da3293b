package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairn-db/cairn/bench/r3/cluster"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// metric is one row of the report.
type metric struct {
	name        string
	unit        string
	format      string
	lowerBetter bool
}

// workload measures one thing on a running cluster, on a bucket of its
// own, and returns a value per metric name.
type workload struct {
	name    string
	metrics []metric
	run     func(c *cluster.Cluster, cfg config) (map[string]float64, error)
}

// config is what the flags set for the workloads.
type config struct {
	clients     int           // concurrent publishers of the throughput run
	duration    time.Duration // length of the throughput run
	latencyOps  int           // puts of the single-client latency loop
	catchupMsgs int           // writes a stopped follower misses
	window      int           // async publish window of the catch-up writes
	failWarm    time.Duration // steady load before the leader is killed
	timeout     time.Duration // bound on any wait for the cluster
}

const valueSize = 128

// The two views of a follower's catch-up, as metric name suffixes.
const (
	catchupLeader = ", leader's view"
	catchupLocal  = ", follower's /jsz"
)

var value = func() []byte {
	b := make([]byte, valueSize)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}()

func workloads(cfg config) []workload {
	tput := fmt.Sprintf("put, %d clients on 3 nodes", cfg.clients)
	catchup := fmt.Sprintf("catch-up after %d writes", cfg.catchupMsgs)
	return []workload{
		{name: "put throughput", metrics: []metric{{tput, "ops/s", "%.0f", false}},
			run: func(c *cluster.Cluster, cfg config) (map[string]float64, error) {
				ops, err := putThroughput(c, cfg)
				if err != nil {
					return nil, err
				}
				return map[string]float64{tput: ops}, nil
			}},
		{name: "put latency", metrics: []metric{
			{"put, 1 client P50", "µs", "%.1f", true},
			{"put, 1 client P99", "µs", "%.1f", true}},
			run: func(c *cluster.Cluster, cfg config) (map[string]float64, error) {
				p50, p99, err := putLatency(c, cfg)
				if err != nil {
					return nil, err
				}
				return map[string]float64{"put, 1 client P50": p50, "put, 1 client P99": p99}, nil
			}},
		{name: "catch-up", metrics: []metric{{catchup + catchupLeader, "s", "%.2f", true}, {catchup + catchupLocal, "s", "%.2f", true}},
			run: func(c *cluster.Cluster, cfg config) (map[string]float64, error) {
				vals, err := catchUp(c, cfg)
				out := map[string]float64{}
				for k, v := range vals {
					out[catchup+k] = v
				}
				return out, err
			}},
		// Last: it leaves the old leader dead.
		{name: "failover", metrics: []metric{{"failover after kill -9 of the leader", "ms", "%.0f", true}},
			run: func(c *cluster.Cluster, cfg config) (map[string]float64, error) {
				ms, err := failover(c, cfg)
				if err != nil {
					return nil, err
				}
				return map[string]float64{"failover after kill -9 of the leader": ms}, nil
			}},
	}
}

// session is a client on one node with a JetStream context.
type session struct {
	nc *nats.Conn
	js jetstream.JetStream
}

func open(c *cluster.Cluster, i int) (*session, error) {
	nc, err := c.Connect(i, false)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &session{nc, js}, nil
}

// newBucket creates an R3 bucket from a client on n1 and waits until it
// has a leader with every replica current; it returns the leader's index.
func newBucket(c *cluster.Cluster, name string, cfg config) (int, error) {
	s, err := open(c, 0)
	if err != nil {
		return -1, err
	}
	defer s.nc.Close()
	if _, err := cluster.CreateBucket(s.js, jetstream.KeyValueConfig{Bucket: name, Replicas: 3}, cfg.timeout); err != nil {
		return -1, err
	}
	return c.WaitLeader(s.js, "KV_"+name, cfg.timeout)
}

// putThroughput: cfg.clients publishers, publisher i on node i mod 3,
// each with its own connection doing synchronous puts of 128 bytes to
// its own 100 keys for cfg.duration. Ops/s over all of them; an error
// ends the run.
func putThroughput(c *cluster.Cluster, cfg config) (float64, error) {
	if _, err := newBucket(c, "tput", cfg); err != nil {
		return 0, err
	}
	var sessions []*session
	defer func() {
		for _, s := range sessions {
			s.nc.Close()
		}
	}()
	for i := range cfg.clients {
		s, err := open(c, i%len(c.Nodes))
		if err != nil {
			return 0, err
		}
		sessions = append(sessions, s)
	}
	var ops atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	stop := start.Add(cfg.duration)
	for i, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kv, err := s.js.KeyValue(context.Background(), "tput")
			for n := 0; err == nil && time.Now().Before(stop); n++ {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err = kv.Put(ctx, fmt.Sprintf("c%d.k%d", i, n%100), value)
				cancel()
				if err == nil {
					ops.Add(1)
				}
			}
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("publisher %d: %w", i, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	return float64(ops.Load()) / time.Since(start).Seconds(), nil
}

// putLatency: one client on a node that is not the bucket's leader does
// cfg.latencyOps synchronous puts one after another (after 200 not
// counted); P50 and P99 in µs.
func putLatency(c *cluster.Cluster, cfg config) (float64, float64, error) {
	leader, err := newBucket(c, "lat", cfg)
	if err != nil {
		return 0, 0, err
	}
	s, err := open(c, (leader+1)%len(c.Nodes))
	if err != nil {
		return 0, 0, err
	}
	defer s.nc.Close()
	kv, err := s.js.KeyValue(context.Background(), "lat")
	if err != nil {
		return 0, 0, err
	}
	lat := make([]float64, 0, cfg.latencyOps)
	for n := range 200 + cfg.latencyOps {
		t0 := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := kv.Put(ctx, fmt.Sprintf("k%d", n%100), value)
		cancel()
		if err != nil {
			return 0, 0, fmt.Errorf("put %d: %w", n, err)
		}
		if n >= 200 {
			lat = append(lat, float64(time.Since(t0).Microseconds()))
		}
	}
	slices.Sort(lat)
	return percentile(lat, 0.50), percentile(lat, 0.99), nil
}

func percentile(sorted []float64, p float64) float64 {
	i := int(p * float64(len(sorted)))
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return sorted[i]
}

// catchUp: kill -9 a follower, write cfg.catchupMsgs puts to 10,000 keys
// with async publishes (at most cfg.window unacknowledged) from a client
// on the leader, restart the follower and time, from the restart, until
// the leader's stream info lists it as current with no lag, and until
// its own /jsz shows its replica at the stream's last sequence. Seconds.
func catchUp(c *cluster.Cluster, cfg config) (map[string]float64, error) {
	leader, err := newBucket(c, "catchup", cfg)
	if err != nil {
		return nil, err
	}
	follower := (leader + 1) % len(c.Nodes)
	if err := c.Kill(follower); err != nil {
		return nil, err
	}
	nc, err := c.Connect(leader, false)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(cfg.window), jetstream.WithPublishAsyncTimeout(cfg.timeout))
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := writeAsync(js, "catchup", cfg.catchupMsgs, cfg.timeout); err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "    %d writes with %s down in %v\n", cfg.catchupMsgs, c.Nodes[follower].Name, time.Since(t0).Round(time.Millisecond))
	ci, state, err := cluster.StreamCluster(js, "KV_catchup", 5*time.Second)
	if err != nil {
		return nil, err
	}
	if state.LastSeq < uint64(cfg.catchupMsgs) {
		return nil, fmt.Errorf("stream's last sequence %d after %d writes", state.LastSeq, cfg.catchupMsgs)
	}
	fmt.Fprintf(os.Stderr, "    before restart: leader %s, %s\n", ci.Leader, cluster.Replicas(ci))
	restart := time.Now()
	if err := c.Restart(follower); err != nil {
		return nil, err
	}
	return awaitCaughtUp(c, js, follower, state.LastSeq, restart, cfg.timeout)
}

// awaitCaughtUp polls, every 10 ms from restart, the leader's stream
// info (the follower current with lag 0) and the follower's own /jsz
// (its replica's last sequence at least target) until both hold, for at
// most timeout, and returns the seconds each took. A view that did not
// get there is left out of the values and named in the error.
func awaitCaughtUp(c *cluster.Cluster, js jetstream.JetStream, follower int, target uint64, restart time.Time, timeout time.Duration) (map[string]float64, error) {
	n := c.Nodes[follower]
	vals := map[string]float64{}
	var leaderLast, localLast string
	deadline := restart.Add(timeout)
	for {
		if _, ok := vals[catchupLeader]; !ok {
			ci, _, err := cluster.StreamCluster(js, "KV_catchup", time.Second)
			if err == nil {
				leaderLast = "leader " + ci.Leader + " " + cluster.Replicas(ci)
				for _, r := range ci.Replicas {
					if r.Name == n.Name && r.Current && !r.Offline && r.Lag == 0 {
						vals[catchupLeader] = time.Since(restart).Seconds()
					}
				}
			} else {
				leaderLast = err.Error()
			}
		}
		if _, ok := vals[catchupLocal]; !ok {
			last, found, err := n.LocalLastSeq("KV_catchup")
			switch {
			case err != nil:
				localLast = err.Error()
			case !found:
				localLast = "stream not listed"
			case last >= target:
				vals[catchupLocal] = time.Since(restart).Seconds()
			default:
				localLast = fmt.Sprintf("last_seq %d of %d", last, target)
			}
		}
		if len(vals) == 2 {
			return vals, nil
		}
		if time.Now().After(deadline) {
			var missing []string
			if _, ok := vals[catchupLeader]; !ok {
				missing = append(missing, "leader's view (last: "+leaderLast+")")
			}
			if _, ok := vals[catchupLocal]; !ok {
				missing = append(missing, n.Name+"'s own /jsz (last: "+localLast+")")
			}
			return vals, fmt.Errorf("%s not caught up within %v of its restart by %s", n.Name, timeout, strings.Join(missing, " nor by "))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// writeAsync publishes n 128-byte values to the bucket's keys k0…k9999
// asynchronously and waits for every acknowledgement, all within timeout.
func writeAsync(js jetstream.JetStream, bucket string, n int, timeout time.Duration) error {
	futures := make([]jetstream.PubAckFuture, 0, n)
	deadline := time.Now().Add(timeout)
	for i := range n {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("only %d of %d async publishes sent within %v", i, n, timeout)
		}
		// A full window waits for acknowledgements (up to what is left
		// of the timeout), rather than nats.go's default 200 ms.
		f, err := js.PublishAsync(fmt.Sprintf("$KV.%s.k%d", bucket, i%10000), value, jetstream.WithStallWait(left))
		if err != nil {
			return fmt.Errorf("async publish %d: %w", i, err)
		}
		futures = append(futures, f)
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Until(deadline)):
		return fmt.Errorf("%d async publishes not all acknowledged within %v", n, timeout)
	}
	for i, f := range futures {
		select {
		case err := <-f.Err():
			return fmt.Errorf("async publish %d: %w", i, err)
		case <-f.Ok():
		}
	}
	return nil
}

// failover: a client on a follower puts in a loop (each put bounded by
// 250 ms, retried at once after an error); after cfg.failWarm the
// leader is killed with SIGKILL; the time from the kill to the
// acknowledgement of the first put sent after the process is gone, in ms.
func failover(c *cluster.Cluster, cfg config) (float64, error) {
	leader, err := newBucket(c, "failover", cfg)
	if err != nil {
		return 0, err
	}
	s, err := open(c, (leader+1)%len(c.Nodes))
	if err != nil {
		return 0, err
	}
	defer s.nc.Close()
	kv, err := s.js.KeyValue(context.Background(), "failover")
	if err != nil {
		return 0, err
	}
	// killedAt is set before the signal, reapedAt once the process is
	// gone: only a put sent after reapedAt counts (one sent between the
	// two could still be acknowledged by the old leader).
	var killedAt, reapedAt atomic.Pointer[time.Time]
	type outcome struct {
		ms  float64
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		var lastErr error
		failures := 0
		for n := 0; ; n++ {
			sent := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
			_, err := kv.Put(ctx, fmt.Sprintf("k%d", n%100), value)
			cancel()
			k, r := killedAt.Load(), reapedAt.Load()
			switch {
			case err == nil && r != nil && sent.After(*r):
				done <- outcome{ms: float64(time.Since(*k).Microseconds()) / 1000}
				return
			case err != nil && k == nil && !errors.Is(err, context.DeadlineExceeded):
				done <- outcome{err: fmt.Errorf("put before the kill: %w", err)}
				return
			case err != nil:
				failures++
				lastErr = err
			}
			if k != nil && time.Since(*k) > cfg.timeout {
				done <- outcome{err: fmt.Errorf("no put acknowledged within %v of the kill (%d failed, last: %v)", cfg.timeout, failures, lastErr)}
				return
			}
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				time.Sleep(5 * time.Millisecond) // an immediate error (no responders): do not spin
			}
		}
	}()
	select {
	case o := <-done:
		return 0, fmt.Errorf("before the kill: %v", o.err)
	case <-time.After(cfg.failWarm):
	}
	now := time.Now()
	killedAt.Store(&now)
	if err := c.Kill(leader); err != nil {
		return 0, err
	}
	reaped := time.Now()
	reapedAt.Store(&reaped)
	o := <-done
	return o.ms, o.err
}
