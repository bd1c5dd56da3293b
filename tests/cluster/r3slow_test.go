package cluster

// A slow follower does not slow the leader beyond the quorum (issue 15,
// point 5): with one follower of an R3 bucket stopped (SIGSTOP), puts
// through the other follower still succeed one after the other (each
// acknowledged by the leader and the live follower), and once the
// stopped follower resumes it catches up and its replica is current.
// This is a liveness check, not a speed measurement (bench/r3 measures
// speed): every put must be acknowledged within nats.go's own timeout.

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestR3SlowFollower(t *testing.T) {
	t.Parallel()
	onBoth(t, func(t *testing.T, k kind) {
		nodes, js := r3Cluster(t, k, jetstream.KeyValueConfig{Bucket: "slow"})
		li := leaderNode(t, nodes, js[0], "slow", "", 10*time.Second)
		stopped := (li + 1) % 3
		writer := (li + 2) % 3
		kv, err := js[writer].KeyValue(ctxT(t, 5*time.Second), "slow")
		if err != nil {
			t.Fatal(err)
		}
		nodes[stopped].signal(t, syscall.SIGSTOP)
		resumed := false
		defer func() {
			if !resumed {
				nodes[stopped].signal(t, syscall.SIGCONT)
			}
		}()
		const puts = 300
		start := time.Now()
		var slowest time.Duration
		for i := range puts {
			t0 := time.Now()
			if _, err := kv.Put(ctxT(t, 5*time.Second), fmt.Sprintf("k%d", i%10), []byte(fmt.Sprintf("v%d", i))); err != nil {
				t.Fatalf("%s: put %d with %s stopped: %v", k.name, i, nodes[stopped].name, err)
			}
			slowest = max(slowest, time.Since(t0))
		}
		t.Logf("%s: %d puts with follower %s stopped in %v (slowest %v)", k.name, puts, nodes[stopped].name, time.Since(start).Round(time.Millisecond), slowest.Round(time.Microsecond))
		nodes[stopped].signal(t, syscall.SIGCONT)
		resumed = true
		waitFor(t, 30*time.Second, "the resumed follower current", func() bool {
			return replicasCurrent(js[writer], "slow")
		})
	})
}
