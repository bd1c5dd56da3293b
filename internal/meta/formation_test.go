package meta

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestRandomFormation starts five nodes given the same seed routes (a
// node is ready once connected to all four others) at random times,
// with the routes of the mesh coming up one by one in random order and
// at random moments: whatever the order, one group of five forms.
// Replay a failure with META_SEED=<seed>.
func TestRandomFormation(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("META_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	for round := range 4 {
		seed := seed + uint64(round)
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, seed))
			n := newNetwork(t)
			n.restrictLinks()
			all := names("n", 5)
			var pairs [][2]string
			for i, a := range all {
				for _, b := range all[i+1:] {
					pairs = append(pairs, [2]string{a, b})
				}
			}
			rng.Shuffle(len(pairs), func(i, j int) { pairs[i], pairs[j] = pairs[j], pairs[i] })
			rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
			for _, name := range all {
				n.start(name, "", func(o *Options) {
					o.SeedsReady = func() bool { return len(o.Transport.Peers()) == 4 }
				})
			}
			// A schedule of route arrivals (fault injection, not
			// synchronisation): 0–3 ticks apart, and now and then after
			// a pause longer than the stability window.
			for _, p := range pairs {
				pause := time.Duration(rng.IntN(4)) * testTick
				if rng.IntN(6) == 0 {
					pause = (stableTicks + 5) * testTick
				}
				time.Sleep(pause)
				n.link(p[0], p[1])
			}
			waitFormed(t, n, all)
		})
	}
}

// In the seed-node topology with the routes coming up late and in any
// order, the seed forms alone and the others join it.
func TestSeedTopologyLateRoutes(t *testing.T) {
	n := newNetwork(t)
	n.restrictLinks()
	n.start("n1", "", nil)
	waitFormed(t, n, []string{"n1"})
	for _, name := range []string{"n2", "n3", "n4"} {
		n.start(name, "", func(o *Options) {
			o.SeedsReady = func() bool { return slices.Contains(o.Transport.Peers(), "n1") }
		})
	}
	// n2–n4 see each other first: a view without the seed, never ready.
	n.link("n2", "n3")
	n.link("n3", "n4")
	n.link("n2", "n4")
	n.link("n1", "n3")
	n.link("n1", "n2")
	n.link("n1", "n4")
	waitFormed(t, n, []string{"n1", "n2", "n3", "n4"})
	if c := n.logged("bootstraps"); c != 1 {
		t.Fatalf("%d bootstraps, want only the seed's", c)
	}
}

// A node without a group connected to nodes of two different groups
// joins neither, and says so.
func TestJoinRefusedBetweenTwoGroups(t *testing.T) {
	n := newNetwork(t)
	n.restrictLinks()
	n.start("a1", "", nil)
	n.start("b1", "", nil)
	waitFormed(t, n, []string{"a1"})
	waitFormed(t, n, []string{"b1"})
	c := n.start("c1", "", nil)
	n.link("c1", "a1")
	n.link("c1", "b1")
	waitFor(t, 10*time.Second, "the refusal", func() bool { return n.logged("c1: ERROR: meta: peers of several metadata groups") > 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*testTick)
	defer cancel()
	if _, err := c.Assign(ctx, assignment("S", "c1")); !errors.Is(err, ErrUnavailable) || c.Cluster() != 0 {
		t.Fatalf("c1 joined a group (cluster %x, Assign %v)", c.Cluster(), err)
	}
}
