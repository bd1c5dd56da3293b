package cluster

// Watchers of an R3 bucket across leader changes (issue 15, point 4):
// on each node, a watch of one key and a watch of every key with its
// history (nats.go jetstream KeyValue); a writer on a node that does
// not lead the bucket puts values to four keys, one at a time, while
// the leader is killed with SIGKILL and restarted, and then asked to
// step down ($JS.API.STREAM.LEADER.STEPDOWN). Every watcher must
// receive every acknowledged update exactly once, in revision order; a
// put whose outcome is unknown (timed out, or failed during the
// election) may appear, once and in order, or not at all. Cairn must
// pass; nats-server's differences are logged.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// watched is one entry a watcher received.
type watched struct {
	op    jetstream.KeyValueOp
	key   string
	rev   uint64
	value string
	at    time.Time // when the watcher received it
}

// collector gathers what one watcher receives until its context ends.
type collector struct {
	name string
	key  string // the watched key, "" for every key

	mu      sync.Mutex
	entries []watched
	markers int // end-of-initial markers
}

func (c *collector) run(w jetstream.KeyWatcher, done <-chan struct{}) {
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			c.mu.Lock()
			if e == nil {
				c.markers++
			} else {
				c.entries = append(c.entries, watched{e.Operation(), e.Key(), e.Revision(), string(e.Value()), time.Now()})
			}
			c.mu.Unlock()
		case <-done:
			return
		}
	}
}

// has reports whether c received the entry of revision rev.
func (c *collector) has(rev uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.entries) - 1; i >= 0; i-- {
		if c.entries[i].rev == rev {
			return true
		}
	}
	return false
}

// lastRev is the revision of the last entry c received.
func (c *collector) lastRev() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) == 0 {
		return 0
	}
	return c.entries[len(c.entries)-1].rev
}

// stall describes the longest wait between two entries c received
// (the second received after since), and which revisions it separated.
func (c *collector) stall(since time.Time) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var longest time.Duration
	var after, before watched
	for i := 1; i < len(c.entries); i++ {
		if c.entries[i].at.Before(since) {
			continue
		}
		if d := c.entries[i].at.Sub(c.entries[i-1].at); d > longest {
			longest, after, before = d, c.entries[i-1], c.entries[i]
		}
	}
	return fmt.Sprintf("longest wait %v, between rev %d and rev %d", longest.Round(time.Millisecond), after.rev, before.rev)
}

// writeResult is one put of the writer.
type writeResult struct {
	key, value string
	rev        uint64 // 0 when the outcome is unknown
}

// TestR3WatchFailover: see the file comment.
func TestR3WatchFailover(t *testing.T) {
	t.Parallel()
	onBoth(t, func(t *testing.T, k kind) {
		const bucket = "wf"
		const keys = 64 // History 64 each: 4096 revisions kept
		nodes, js := r3Cluster(t, k, jetstream.KeyValueConfig{Bucket: bucket, History: 64})
		leader := leaderNode(t, nodes, js[0], bucket, "", 10*time.Second)
		writerOn := (leader + 1) % 3
		done := make(chan struct{})
		var cols []*collector
		var wg sync.WaitGroup
		for i, n := range nodes {
			// A connection of its own per watcher (not the writer's).
			kv := kvOn(t, jsOn(t, n), bucket)
			one, err := kv.Watch(ctxT(t, time.Minute), "k1")
			if err != nil {
				t.Fatalf("watch k1 on %s: %v", n.name, err)
			}
			all, err := kv.WatchAll(ctxT(t, time.Minute), jetstream.IncludeHistory())
			if err != nil {
				t.Fatalf("watch all on %s: %v", n.name, err)
			}
			for _, w := range []struct {
				kw  jetstream.KeyWatcher
				key string
			}{{one, "k1"}, {all, ""}} {
				c := &collector{name: fmt.Sprintf("%s watch %q", nodes[i].name, w.key), key: w.key}
				cols = append(cols, c)
				wg.Add(1)
				go func() { defer wg.Done(); c.run(w.kw, done) }()
				t.Cleanup(func() { _ = w.kw.Stop() })
			}
		}
		defer func() { close(done); wg.Wait() }()

		kvw := kvOn(t, jsOn(t, nodes[writerOn]), bucket)
		var mu sync.Mutex
		var results []writeResult
		acked := func() int {
			mu.Lock()
			defer mu.Unlock()
			n := 0
			for _, r := range results {
				if r.rev != 0 {
					n++
				}
			}
			return n
		}
		stop := make(chan struct{})
		var wwg sync.WaitGroup
		wwg.Add(1)
		go func() {
			defer wwg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := writeResult{key: fmt.Sprintf("k%d", i%keys), value: fmt.Sprint("v", i)}
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				rev, err := kvw.Put(ctx, r.key, []byte(r.value))
				cancel()
				if err == nil {
					r.rev = rev
				}
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
				// Pacing, not synchronisation: at most ~100 puts a
				// second keep every revision within the bucket's
				// history (keys × 64), so that a watcher whose ordered
				// consumer is recreated late (nats.go notices a dead
				// consumer after two missed 5 s heartbeats) can still
				// get it; a revision removed by the history limit
				// before the watcher resumed would be a gap.
				time.Sleep(10 * time.Millisecond)
			}
		}()
		halt := sync.OnceFunc(func() { close(stop); wwg.Wait() })
		defer halt()
		progress := func(n int, what string) {
			target := acked() + n
			waitFor(t, 20*time.Second, what, func() bool { return acked() >= target })
		}

		lastAcked := func() uint64 {
			mu.Lock()
			defer mu.Unlock()
			var rev uint64
			for _, r := range results {
				rev = max(rev, r.rev)
			}
			return rev
		}
		progress(100, "puts before the kill")
		t.Logf("%s: last acknowledged revision at the kill: %d", k.name, lastAcked())
		killStart := time.Now()
		li, took := killLeader(t, nodes, js, bucket)
		t.Logf("%s: leader %s killed, new leader after %v; restarted", k.name, nodes[li].name, took.Round(time.Millisecond))
		progress(100, "puts after the kill")
		t.Logf("%s: 100 puts acknowledged %v after the kill", k.name, time.Since(killStart).Round(time.Millisecond))

		// Every watcher catches up before the step-down, so that a
		// wait after it is the step-down's.
		caughtUp := func(what string, since time.Time) {
			mu.Lock()
			var all, k1 uint64
			for _, r := range results {
				all = max(all, r.rev)
				if r.key == "k1" {
					k1 = max(k1, r.rev)
				}
			}
			mu.Unlock()
			waitFor(t, 30*time.Second, "every watcher "+what, func() bool {
				for _, c := range cols {
					want := all
					if c.key == "k1" {
						want = k1
					}
					if c.lastRev() < want {
						return false
					}
				}
				return true
			})
			t.Logf("%s: every watcher %s %v later", k.name, what, time.Since(since).Round(time.Millisecond))
		}
		caughtUp("caught up after the kill", killStart)

		li = leaderNode(t, nodes, js[0], bucket, "", 10*time.Second)
		nc := connect(t, nodes[(li+2)%3].URL())
		t.Logf("%s: last acknowledged revision at the step-down: %d", k.name, lastAcked())
		stepDown := time.Now()
		if e, err := apiRequest(nc, "$JS.API.STREAM.LEADER.STEPDOWN.KV_"+bucket, 5*time.Second); err != nil || e != nil {
			t.Fatalf("%s: step down of %s: %v %+v", k.name, nodes[li].name, err, e)
		}
		nl := leaderNode(t, nodes, js[(li+1)%3], bucket, nodes[li].name, 15*time.Second)
		t.Logf("%s: leader %s stepped down; %s leads", k.name, nodes[li].name, nodes[nl].name)
		progress(100, "puts after the step-down")
		halt()
		caughtUp("caught up after the step-down", stepDown)

		// The last put acknowledged: every watcher (of its key, or of
		// every key) must get there.
		mu.Lock()
		res := append([]writeResult(nil), results...)
		mu.Unlock()
		var last, lastK1 uint64
		unknown := 0
		for _, r := range res {
			if r.rev == 0 {
				unknown++
				continue
			}
			last = max(last, r.rev)
			if r.key == "k1" {
				lastK1 = max(lastK1, r.rev)
			}
		}
		t.Logf("%s: %d puts, %d acknowledged, %d of unknown outcome; last revision %d", k.name, len(res), len(res)-unknown, unknown, last)
		var problems []string
		for _, c := range cols {
			want := last
			if c.key == "k1" {
				want = lastK1
			}
			deadline := time.Now().Add(20 * time.Second)
			for !c.has(want) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			problems = append(problems, checkWatched(c, res, want, killStart, stepDown)...)
			c.mu.Lock()
			n := len(c.entries)
			c.mu.Unlock()
			t.Logf("%s: %s: %d entries; across the kill: %s; across the step-down: %s", k.name, c.name, n, c.stall(killStart), c.stall(stepDown))
		}
		if len(problems) == 0 {
			t.Logf("%s: %d watchers received every acknowledged update once, in order", k.name, len(cols))
			return
		}
		msg := fmt.Sprintf("%s: %d problems:\n%s", k.name, len(problems), strings.Join(problems[:min(len(problems), 40)], "\n"))
		if k.name == "cairn" {
			t.Error(msg)
		} else {
			t.Log(msg)
		}
	})
}

// checkWatched checks what c received up to revision upTo against the
// writer's results: revisions strictly increasing (in order, none
// twice), each entry one the writer made (its key, value and, when
// acknowledged, revision), and every acknowledged put of c's keys
// there. It returns the problems found.
func checkWatched(c *collector, res []writeResult, upTo uint64, killed, steppedDown time.Time) []string {
	c.mu.Lock()
	entries := append([]watched(nil), c.entries...)
	markers := c.markers
	c.mu.Unlock()
	var problems []string
	add := func(format string, args ...any) {
		problems = append(problems, c.name+": "+fmt.Sprintf(format, args...))
	}
	if markers != 1 {
		add("%d end-of-initial markers, want 1", markers)
	}
	byValue := map[string]writeResult{}
	for _, r := range res {
		byValue[r.value] = r
	}
	seen := map[uint64]bool{}
	var prev uint64
	for i, e := range entries {
		if e.rev <= prev {
			add("entry %d: revision %d after %d (out of order or twice)", i, e.rev, prev)
		}
		prev = max(prev, e.rev)
		seen[e.rev] = true
		r, ok := byValue[e.value]
		switch {
		case e.op != jetstream.KeyValuePut || !ok:
			add("entry %d: %s %s rev=%d %q was never written", i, e.op, e.key, e.rev, e.value)
		case r.key != e.key || (r.rev != 0 && r.rev != e.rev):
			add("entry %d: %s rev=%d %q, but that put was of %s, acknowledged at revision %d", i, e.key, e.rev, e.value, r.key, r.rev)
		case c.key != "" && e.key != c.key:
			add("entry %d: key %s for a watch of %s", i, e.key, c.key)
		}
	}
	missing := 0
	for _, r := range res {
		if r.rev == 0 || r.rev > upTo || (c.key != "" && r.key != c.key) || seen[r.rev] {
			continue
		}
		if missing < 2 {
			add("acknowledged put %s rev=%d %q not received", r.key, r.rev, r.value)
		}
		missing++
	}
	if missing > 0 {
		// Where the first gap is: the entries received around it.
		want := map[uint64]bool{}
		for _, r := range res {
			if r.rev != 0 && r.rev <= upTo && (c.key == "" || r.key == c.key) {
				want[r.rev] = true
			}
		}
		for i := 1; i < len(entries); i++ {
			gap := 0
			for rev := entries[i-1].rev + 1; rev < entries[i].rev; rev++ {
				if want[rev] {
					gap++
				}
			}
			if gap > 0 {
				at := func(e watched) string {
					return fmt.Sprintf("%v after the kill, %v after the step-down", e.at.Sub(killed).Round(time.Millisecond), e.at.Sub(steppedDown).Round(time.Millisecond))
				}
				add("first gap: entry %d rev=%d %q (received %s), then entry %d rev=%d %q (received %s): %d acknowledged puts between",
					i-1, entries[i-1].rev, entries[i-1].value, at(entries[i-1]), i, entries[i].rev, entries[i].value, at(entries[i]), gap)
				break
			}
		}
	}
	if missing > 2 {
		add("... %d acknowledged puts not received in all (%d entries received, last revision %d)", missing, len(entries), prev)
	}
	return problems
}
