package cluster

// TestR3EmptyStoreRejoin (issue 15, point 5): a follower of an R3
// bucket is killed, the others take more writes, and the follower is
// restarted on its ports with an EMPTY store directory. It must rejoin
// and catch up completely: once every replica reports current, each
// node in turn is made the bucket's leader (STREAM.LEADER.STEPDOWN,
// asking for that node as preferred, repeated until it leads) and the
// History of every key is read through a client of that node. On both
// kinds the history (and a watch) is served by the leader's store, so
// this reads each node's own copy; a direct get would not (cairn
// serves it from the leader only). Every node's histories must be
// equal, and hold every acknowledged put with its revision and value.
// Asserted on both kinds.

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestR3EmptyStoreRejoin(t *testing.T) {
	t.Parallel()
	onBoth(t, func(t *testing.T, k kind) {
		const bucket = "rejoin"
		keys := []string{"r0", "r1", "r2", "r3", "r4"}
		nodes, js := r3Cluster(t, k, jetstream.KeyValueConfig{Bucket: bucket, History: 20})
		acked := map[uint64]string{} // revision → value of every acknowledged put
		writeRound := func(through []int, round int) {
			t.Helper()
			for i, key := range keys {
				// Opened within the retries too: a node just restarted
				// empty answers only once it caught up with the metadata
				// group and its stream has a leader (an election, as
				// with nats-server, leaves a request unanswered).
				var kv jetstream.KeyValue
				value := fmt.Sprintf("%s.%d", key, round)
				var rev uint64
				var err error
				waitFor(t, 20*time.Second, "put "+key, func() bool {
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
					defer cancel()
					if kv == nil {
						if kv, err = js[through[i%len(through)]].KeyValue(ctx, bucket); err != nil {
							kv = nil
							return false
						}
					}
					rev, err = kv.Put(ctx, key, []byte(value))
					return err == nil
				})
				acked[rev] = value
				if round%3 == 2 && i%2 == 0 {
					waitFor(t, 20*time.Second, "delete "+key, func() bool {
						ctx, cancel := context.WithTimeout(context.Background(), time.Second)
						defer cancel()
						return kv.Delete(ctx, key) == nil
					})
				}
			}
		}
		all := []int{0, 1, 2}
		for round := range 6 {
			writeRound(all, round)
		}
		li := leaderNode(t, nodes, js[0], bucket, "", 10*time.Second)
		fi := (li + 1) % 3
		follower := nodes[fi]
		follower.kill()
		survivors := []int{li, (li + 2) % 3}
		for round := 6; round < 12; round++ {
			writeRound(survivors, round)
		}
		follower.dir = t.TempDir()
		follower.start(t)
		restarted := time.Now()
		for _, n := range nodes {
			waitFormed(t, n, nodes)
		}
		for round := 12; round < 15; round++ {
			writeRound(all, round)
		}
		waitFor(t, 60*time.Second, "every replica current", func() bool { return replicasCurrent(js[li], bucket) })
		t.Logf("%s: %s restarted empty; every replica current %v later", k.name, follower.name, time.Since(restarted).Round(time.Millisecond))

		var first []string
		for i, n := range nodes {
			took := makeLeader(t, nodes, js, bucket, i)
			got := histories(t, js[i], bucket, keys)
			t.Logf("%s: %s leads (%v); %d history entries", k.name, n.name, took.Round(time.Millisecond), len(got))
			if i == 0 {
				first = got
				seen := map[uint64]bool{}
				for _, line := range got {
					var key, op, value string
					var rev uint64
					if _, err := fmt.Sscanf(line, "%s %d %s %q", &key, &rev, &op, &value); err == nil && op == "KeyValuePutOp" {
						if acked[rev] != value {
							t.Errorf("%s: history entry %s: acknowledged as %q", k.name, line, acked[rev])
						}
						seen[rev] = true
					}
				}
				for rev, value := range acked {
					if !seen[rev] {
						t.Errorf("%s: acknowledged put rev %d %q missing from %s's history", k.name, rev, value, n.name)
					}
				}
				continue
			}
			if !slices.Equal(got, first) {
				t.Errorf("%s: %s's history differs from %s's:\n%s\nvs\n%s", k.name, n.name, nodes[0].name, strings.Join(got, "\n"), strings.Join(first, "\n"))
			}
		}
	})
}

// makeLeader asks bucket's leader to step down, preferring nodes[i],
// until nodes[i] leads; it returns how long that took.
func makeLeader(t *testing.T, nodes []*node, js []jetstream.JetStream, bucket string, i int) time.Duration {
	t.Helper()
	start := time.Now()
	body, _ := json.Marshal(map[string]any{"placement": map[string]any{"preferred": nodes[i].name}})
	subject := "$JS.API.STREAM.LEADER.STEPDOWN.KV_" + bucket
	var last string
	waitFor(t, 60*time.Second, nodes[i].name+" leads "+bucket, func() bool {
		l, err := streamLeader(js[i], bucket)
		if err == nil && l == nodes[i].name && replicasCurrent(js[i], bucket) {
			return true
		}
		if err == nil && l != nodes[i].name {
			m, err := js[i].Conn().Request(subject, body, 2*time.Second)
			if err != nil {
				last = err.Error()
			} else {
				last = string(m.Data)
			}
			// Wait for the election the step-down started.
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) {
				if nl, err := streamLeader(js[i], bucket); err == nil && nl != l {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		return false
	})
	if last != "" {
		t.Logf("last step-down answer: %s", last)
	}
	return time.Since(start)
}

// histories returns every revision of keys, read with kv.History
// through js, one line per entry: key, revision, operation, value.
func histories(t *testing.T, js jetstream.JetStream, bucket string, keys []string) []string {
	t.Helper()
	kv := kvOn(t, js, bucket)
	var out []string
	for _, key := range keys {
		var entries []jetstream.KeyValueEntry
		var err error
		waitFor(t, 20*time.Second, "history of "+key, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			entries, err = kv.History(ctx, key)
			return err == nil
		})
		for _, e := range entries {
			out = append(out, fmt.Sprintf("%s %d %s %q", key, e.Revision(), e.Operation(), e.Value()))
		}
	}
	return out
}
