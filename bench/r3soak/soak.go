package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cairn-db/cairn/bench/r3/cluster"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// summary is what the soak prints at the end.
type summary struct {
	kind                       string
	elapsed                    time.Duration
	ops, acked, errs, unknown  int
	reads                      int
	kills, partitions          int
	maxGap                     time.Duration // longest time without an acknowledged write
	maxGapAt                   time.Duration // when it began, from the start
	checked, missing, diverged int
	behind                     int      // replicas whose own last sequence is not the stream's
	notes                      []string // the first mismatches found
	history                    string
	started                    bool // the workload ran (the counts mean something)
}

func (s summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %v, %d operations (%d acknowledged writes, %d reads, %d errors of which %d unknown outcome), %d leader kills, %d partitions\n",
		s.kind, s.elapsed.Round(time.Millisecond), s.ops, s.acked, s.reads, s.errs, s.unknown, s.kills, s.partitions)
	fmt.Fprintf(&b, "longest time without an acknowledged write: %v (from %v after the start)\n", s.maxGap.Round(time.Millisecond), s.maxGapAt.Round(time.Millisecond))
	fmt.Fprintf(&b, "check: %d acknowledged writes × %d nodes read back, %d missing or wrong; %d keys whose latest revision differs between nodes; %d replicas whose own last sequence (/jsz) is not the stream's\n",
		s.checked, 3, s.missing, s.diverged, s.behind)
	for _, n := range s.notes {
		fmt.Fprintf(&b, "  %s\n", n)
	}
	fmt.Fprintf(&b, "history: %s", s.history)
	return b.String()
}

// node sessions: a client per node that reconnects to that node only.
type session struct {
	nc *nats.Conn
	js jetstream.JetStream
}

func openSession(c *cluster.Cluster, i int, reconnect bool) (*session, error) {
	nc, err := c.Connect(i, reconnect)
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

// soak runs the whole soak on a fresh cluster and stops it.
func soak(cfg config) (summary, error) {
	sum := summary{kind: cfg.kind, history: cfg.history}
	c, err := cluster.Start(cluster.Options{Kind: cfg.kind, Bin: cfg.bin, Nodes: 3, Proxies: true})
	if err != nil {
		return sum, err
	}
	defer c.Stop()
	if err := c.WaitJetStream(cfg.recoverWait); err != nil {
		return sum, err
	}
	var control []*session // one per node, for stream info
	var sessions []*session
	defer func() {
		for _, s := range append(control, sessions...) {
			s.nc.Close()
		}
	}()
	for i := range c.Nodes {
		s, err := openSession(c, i, true)
		if err != nil {
			return sum, err
		}
		control = append(control, s)
	}
	if _, err := cluster.CreateBucket(control[0].js, jetstream.KeyValueConfig{Bucket: bucket, Replicas: 3}, cfg.recoverWait); err != nil {
		return sum, err
	}
	if _, err := c.WaitLeader(control[0].js, "KV_"+bucket, cfg.recoverWait); err != nil {
		return sum, err
	}

	begin := time.Now()
	h, err := newHistory(cfg.history, begin)
	if err != nil {
		return sum, err
	}
	sum.started = true
	current.Store(h)
	rng := rand.New(rand.NewPCG(cfg.seed, 0x7233))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range c.Nodes {
		for range cfg.perNode {
			s, err := openSession(c, i, true)
			if err != nil {
				close(stop)
				wg.Wait()
				h.close()
				return sum, err
			}
			sessions = append(sessions, s)
			kv, err := s.js.KeyValue(context.Background(), bucket)
			if err != nil {
				close(stop)
				wg.Wait()
				h.close()
				return sum, err
			}
			cl := &client{id: len(sessions), node: c.Nodes[i].Name, kv: kv, js: s.js, h: h, keys: cfg.keys,
				rng: rand.New(rand.NewPCG(rng.Uint64(), uint64(len(sessions))))}
			wg.Add(1)
			go cl.run(stop, &wg)
		}
	}
	faultErr := faults(c, control, cfg, rng, &sum)
	close(stop)
	wg.Wait()
	sum.elapsed = time.Since(begin)
	if err := h.close(); err != nil && faultErr == nil {
		faultErr = err
	}
	sum.ops, sum.errs, sum.unknown, sum.reads, sum.acked = h.ops, h.errs, h.unknown, h.reads, len(h.acked)
	sum.maxGap, sum.maxGapAt = longestGap(h.acked, sum.elapsed)
	if faultErr != nil {
		return sum, faultErr
	}
	if _, err := waitRecovered(c, control, -1, cfg.recoverWait); err != nil {
		return sum, err
	}
	return sum, verify(c, h.acked, &sum)
}

// faults runs the kills and partitions in a random order, one at a time,
// each after 0.2–1 s of undisturbed load and followed by a wait until the
// bucket has a leader with every replica current, until all are done or
// cfg.duration has passed.
func faults(c *cluster.Cluster, control []*session, cfg config, rng *rand.Rand, sum *summary) error {
	plan := slices.Repeat([]string{"kill"}, cfg.kills)
	plan = append(plan, slices.Repeat([]string{"partition"}, cfg.partitions)...)
	rng.Shuffle(len(plan), func(i, j int) { plan[i], plan[j] = plan[j], plan[i] })
	deadline := time.Now().Add(cfg.duration)
	for n, f := range plan {
		time.Sleep(200*time.Millisecond + randDuration(rng, 800*time.Millisecond))
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "r3soak: -duration %v reached after %d of %d faults\n", cfg.duration, n, len(plan))
			return nil
		}
		leader, err := waitRecovered(c, control, -1, cfg.recoverWait)
		if err != nil {
			return err
		}
		victim := leader
		t0 := time.Now()
		switch f {
		case "kill":
			if err := c.Kill(victim); err != nil {
				return err
			}
			sum.kills++
			time.Sleep(randDuration(rng, cfg.maxDown))
			if err := c.Restart(victim); err != nil {
				return err
			}
		case "partition":
			if rng.IntN(2) == 0 {
				victim = rng.IntN(len(c.Nodes)) // not always the leader
			}
			side := make([]int, len(c.Nodes))
			side[victim] = 1
			cut, err := c.Partition(side)
			if err != nil {
				return err
			}
			if cut == 0 {
				c.Heal()
				return fmt.Errorf("partition %d: no route through the proxies of %s to cut", sum.partitions+1, c.Nodes[victim].Name)
			}
			sum.partitions++
			time.Sleep(cfg.maxHold/4 + randDuration(rng, cfg.maxHold*3/4))
			c.Heal()
		}
		if _, err := waitRecovered(c, control, victim, cfg.recoverWait); err != nil {
			return fmt.Errorf("after %s of %s (fault %d): %w", f, c.Nodes[victim].Name, n+1, err)
		}
		fmt.Fprintf(os.Stderr, "  %d/%d %s %s (leader was %s): recovered %v after\n", n+1, len(plan), f, c.Nodes[victim].Name, c.Nodes[leader].Name, time.Since(t0).Round(time.Millisecond))
	}
	return nil
}

// waitRecovered waits until the bucket's stream has a leader and every
// replica is current, asking through the control session of a node
// other than avoid (the last fault's victim, which may still be
// reconnecting), and returns the leader's index.
func waitRecovered(c *cluster.Cluster, control []*session, avoid int, d time.Duration) (int, error) {
	if err := c.CheckAlive(); err != nil {
		return -1, err
	}
	i := 0
	if avoid == 0 {
		i = 1
	}
	return c.WaitLeader(control[i].js, "KV_"+bucket, d)
}

// longestGap returns the longest time without an acknowledged write
// (between consecutive acknowledgements, and from the last one to the
// end) and when it began.
func longestGap(acked []event, elapsed time.Duration) (time.Duration, time.Duration) {
	ends := make([]int64, 0, len(acked)+1)
	for _, e := range acked {
		ends = append(ends, e.End)
	}
	slices.Sort(ends)
	ends = append(ends, elapsed.Nanoseconds())
	var gap, at int64
	prev := int64(0)
	for _, t := range ends {
		if t-prev > gap {
			gap, at = t-prev, prev
		}
		prev = t
	}
	return time.Duration(gap), time.Duration(at)
}

// randDuration returns a duration in [0, d] from rng (the seeded one, so
// that -seed replays the fault schedule).
func randDuration(rng *rand.Rand, d time.Duration) time.Duration {
	return time.Duration(rng.Int64N(int64(d) + 1))
}
