package meta

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// TestRandomPartitions drives five nodes through random partitions,
// restarts and concurrent writers, then heals and checks that every
// node applied the same state and that no two writers were ever told
// different outcomes for one committed entry. Replay a failure with
// META_SEED=<seed>.
func TestRandomPartitions(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("META_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	n := newNetwork(t)
	all := names("n", 5)
	dirs := map[string]string{}
	for _, name := range all {
		dirs[name] = filepath.Join(t.TempDir(), name)
		n.start(name, dirs[name], func(o *Options) { o.SnapshotEvery = 16 })
	}
	waitFormed(t, n, all)

	type outcome struct {
		node    string
		created time.Time
	}
	told := map[uint64]outcome{} // revision → what Assign returned
	for step := range 30 {
		switch r := rng.IntN(10); {
		case r < 2:
			perm := rng.Perm(len(all))
			cut := 1 + rng.IntN(len(all)-1)
			var a, b []string
			for i, p := range perm {
				if i < cut {
					a = append(a, all[p])
				} else {
					b = append(b, all[p])
				}
			}
			n.partition(a, b)
		case r < 3:
			n.heal()
		case r < 4:
			name := all[rng.IntN(len(all))]
			n.stop(name)
			n.start(name, dirs[name], func(o *Options) { o.SnapshotEvery = 16 })
		default:
			results := make(chan Assignment, len(all))
			stream := fmt.Sprintf("S%d", rng.IntN(4))
			writers := 1 + rng.IntN(3)
			done := make(chan struct{}, writers)
			for range writers {
				name := all[rng.IntN(len(all))]
				g := n.group(name)
				op := rng.IntN(3)
				go func() {
					defer func() { done <- struct{}{} }()
					ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
					defer cancel()
					switch op {
					case 0:
						_ = g.Unassign(ctx, "A", stream, name)
					case 1:
						_ = g.SetConfig(ctx, "A", stream, name, json.RawMessage(fmt.Sprintf(`{"step":%d}`, step)))
					default:
						if a, err := g.Assign(ctx, assignment(stream, name)); err == nil {
							results <- a
						}
					}
				}()
			}
			for range writers {
				<-done
			}
			close(results)
			for a := range results {
				if prev, ok := told[a.Revision]; ok && (prev.node != a.Node || !prev.created.Equal(a.Created)) {
					t.Fatalf("step %d: revision %d told %+v and %+v", step, a.Revision, prev, a)
				}
				told[a.Revision] = outcome{a.Node, a.Created}
			}
		}
	}
	n.heal()
	waitFormed(t, n, all)
	// A last write through the group, so every node has applied
	// everything before it when it shows this one.
	last := assign(t, n.group("n1"), assignment("final", "n1"))
	waitFor(t, 15*time.Second, "identical state on every node", func() bool {
		want := n.group(all[0]).Streams("A")
		for _, name := range all {
			got := n.group(name).Streams("A")
			if a, _ := n.group(name).Lookup("A", "final"); a.Revision != last.Revision || !reflect.DeepEqual(got, want) {
				return false
			}
		}
		return true
	})
}
