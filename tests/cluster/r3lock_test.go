package cluster

// TestR3LockSafety (issue 15, point 6): the seed's lock pattern on an
// R3 bucket while its leader is killed. Six clients, two per node,
// contend for one key: acquire is kv.Create(lock, id) with a per-key
// TTL (kv.KeyTTL; the bucket has LimitMarkerTTL, so TTL expiry leaves a
// marker and Create takes the key again), release is
// kv.Delete(lock, LastRevision(rev of the acquire)). The leader is
// killed with SIGKILL and restarted on its store, twice (CAIRN_R3_KILLS
// times when set).
//
// The safety check, from the recorded wall-clock times: a client holds
// the lock from the return of its successful Create until the earlier
// of the call of its Delete and the call of its Create plus the TTL
// (the server wrote the key after that call, so its TTL cannot expire
// before it: a holder that outlives it must assume the lock lost). No
// two such intervals may overlap. A Create whose outcome is unknown
// (timeout) gives no interval: the client does not believe it holds the
// lock, and the key it may have written expires with the TTL.
//
// Cairn must pass; nats-server's result is logged.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// hold is one client's tenure of the lock.
type hold struct {
	client     int
	rev        uint64
	from, till time.Time
}

func TestR3LockSafety(t *testing.T) {
	t.Parallel()
	onBoth(t, func(t *testing.T, k kind) {
		const bucket, key, ttl = "locks", "lock", 2 * time.Second
		nodes, js := r3Cluster(t, k, jetstream.KeyValueConfig{Bucket: bucket, LimitMarkerTTL: time.Second})
		var mu sync.Mutex
		var holds []hold
		var attempts, unknowns, releaseErrs int
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for id := range 6 {
			kv := kvOn(t, jsOn(t, nodes[id%3]), bucket)
			rng := rand.New(rand.NewPCG(uint64(id), uint64(time.Now().UnixNano())))
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
					call := time.Now()
					rev, err := kv.Create(ctx, key, []byte(fmt.Sprint("holder-", id)), jetstream.KeyTTL(ttl))
					got := time.Now()
					cancel()
					st, _ := outcome(err)
					mu.Lock()
					attempts++
					if st == stUnknown {
						unknowns++
					}
					mu.Unlock()
					if err != nil {
						time.Sleep(time.Duration(5+rng.IntN(20)) * time.Millisecond) // back-off, not synchronisation
						continue
					}
					time.Sleep(time.Duration(10+rng.IntN(40)) * time.Millisecond) // the work done under the lock
					release := time.Now()
					ctx, cancel = context.WithTimeout(context.Background(), time.Second)
					err = kv.Delete(ctx, key, jetstream.LastRevision(rev))
					cancel()
					mu.Lock()
					holds = append(holds, hold{client: id, rev: rev, from: got, till: minTime(release, call.Add(ttl))})
					if err != nil {
						releaseErrs++
					}
					mu.Unlock()
				}
			}()
		}
		halt := sync.OnceFunc(func() { close(stop); wg.Wait() })
		defer halt()
		count := func() int { mu.Lock(); defer mu.Unlock(); return len(holds) }
		waitFor(t, 30*time.Second, "acquisitions", func() bool { return count() >= 30 })
		for round := range r3Kills(t) {
			li, took := killLeader(t, nodes, js, bucket)
			t.Logf("%s: round %d: leader %s killed, new leader after %v; restarted", k.name, round, nodes[li].name, took.Round(time.Millisecond))
			before := count()
			waitFor(t, 30*time.Second, "acquisitions after the restart", func() bool { return count() >= before+30 })
		}
		halt()
		overlaps := lockOverlaps(holds)
		t.Logf("%s: %d acquisitions in %d attempts (%d of unknown outcome), %d releases failed; %d overlapping tenures",
			k.name, len(holds), attempts, unknowns, releaseErrs, len(overlaps))
		for i, o := range overlaps {
			if i == 10 {
				break
			}
			t.Logf("%s: overlap: %s", k.name, o)
		}
		if k.name == "cairn" && len(overlaps) > 0 {
			t.Errorf("cairn: two clients held the lock at once (%d times)", len(overlaps))
		}
	})
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// lockOverlaps returns the tenures that began before an earlier one
// ended.
func lockOverlaps(holds []hold) []string {
	sort.Slice(holds, func(i, j int) bool { return holds[i].from.Before(holds[j].from) })
	var out []string
	var last hold
	for i, h := range holds {
		if i > 0 && h.from.Before(last.till) {
			out = append(out, fmt.Sprintf("client %d (rev %d) acquired %v before client %d (rev %d) lost it",
				h.client, h.rev, last.till.Sub(h.from).Round(time.Microsecond), last.client, last.rev))
		}
		if i == 0 || h.till.After(last.till) {
			last = h
		}
	}
	return out
}
