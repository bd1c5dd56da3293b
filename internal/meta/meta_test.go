package meta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/repl"
)

func assignment(stream, node string) Assignment {
	return Assignment{Account: "A", Stream: stream, Node: node, Config: json.RawMessage(`{"name":"` + stream + `"}`)}
}

func assign(t *testing.T, g *Group, a Assignment) Assignment {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := g.Assign(ctx, a)
	if err != nil {
		t.Fatalf("Assign %s on %s: %v", a.Stream, g.opts.Name, err)
	}
	return got
}

// waitAssigned waits until every named node applied stream on node.
func waitAssigned(t *testing.T, n *network, nodes []string, stream, node string) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("%s on %s everywhere", stream, node), func() bool {
		for _, name := range nodes {
			a, ok := n.group(name).Lookup("A", stream)
			if !ok || a.Node != node {
				return false
			}
		}
		return true
	})
}

func TestFormIdenticalViews(t *testing.T) {
	for _, size := range []int{3, 5} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			n := newNetwork(t)
			all := names("n", size)
			for _, name := range all {
				n.start(name, "", nil)
			}
			waitFormed(t, n, all)
			// Every node is an initial member: those that saw a peer's
			// group before bootstrapping themselves wait in it for the
			// log, and nobody has to be added.
			if c := n.logged("bootstraps metadata group"); c == 0 {
				t.Error("nobody bootstrapped")
			}
			if c := n.logged("adding"); c != 0 {
				t.Errorf("%d nodes added by configuration change, want none", c)
			}
			a := assign(t, n.group(all[size-1]), assignment("S", all[size-1]))
			if a.Node != all[size-1] || a.Revision == 0 || a.Created.IsZero() {
				t.Errorf("Assign returned %+v", a)
			}
			waitAssigned(t, n, all, "S", all[size-1])
		})
	}
}

// The "seed node" topology: n1 has no routes and forms alone; n2 and n3
// have n1 as their seed and join.
func TestSeedNodeJoins(t *testing.T) {
	n := newNetwork(t)
	n1 := n.start("n1", "", nil)
	waitFormed(t, n, []string{"n1"})
	assign(t, n1, assignment("early", "n1"))
	seedReady := func(o *Options) {
		o.SeedsReady = func() bool { return slices.Contains(o.Transport.Peers(), "n1") }
	}
	n.start("n2", "", seedReady)
	n.start("n3", "", seedReady)
	all := []string{"n1", "n2", "n3"}
	waitFormed(t, n, all)
	if c := n.logged("bootstraps"); c != 1 {
		t.Errorf("%d bootstraps, want only n1's", c)
	}
	waitAssigned(t, n, all, "early", "n1")
	assign(t, n.group("n3"), assignment("late", "n3"))
	waitAssigned(t, n, all, "late", "n3")
}

// A node whose seeds are not reachable does not bootstrap, however long
// its view is stable.
func TestNoBootstrapBeforeSeeds(t *testing.T) {
	n := newNetwork(t)
	g := n.start("n1", "", func(o *Options) { o.SeedsReady = func() bool { return false } })
	ctx, cancel := context.WithTimeout(context.Background(), 40*testTick)
	defer cancel()
	if _, err := g.Assign(ctx, assignment("S", "n1")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Assign without a group: %v, want ErrUnavailable", err)
	}
	if g.Cluster() != 0 || n.logged("bootstraps") != 0 {
		t.Fatalf("bootstrapped without its seeds")
	}
}

func TestAssignRaceOneWinner(t *testing.T) {
	n := newNetwork(t)
	all := names("n", 5)
	for _, name := range all {
		n.start(name, "", nil)
	}
	waitFormed(t, n, all)
	for round := range 5 {
		stream := fmt.Sprintf("S%d", round)
		results := make([]Assignment, len(all))
		var wg sync.WaitGroup
		for i, name := range all {
			wg.Go(func() { results[i] = assign(t, n.group(name), assignment(stream, name)) })
		}
		wg.Wait()
		winner := results[0]
		for i, r := range results {
			if r.Node != winner.Node || r.Revision != winner.Revision || !r.Created.Equal(winner.Created) {
				t.Fatalf("%s: node %s got %+v, node %s got %+v", stream, all[0], winner, all[i], r)
			}
		}
		waitAssigned(t, n, all, stream, winner.Node)
		for _, name := range all {
			if a, _ := n.group(name).Lookup("A", stream); a.Revision != winner.Revision {
				t.Fatalf("%s on %s: %+v, winner %+v", stream, name, a, winner)
			}
		}
	}
}

func TestUnassignAndSetConfig(t *testing.T) {
	n := newNetwork(t)
	all := names("n", 3)
	for _, name := range all {
		n.start(name, "", nil)
	}
	waitFormed(t, n, all)
	g1, g2 := n.group("n1"), n.group("n2")
	assign(t, g1, assignment("S", "n1"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g2.SetConfig(ctx, "A", "S", "n2", json.RawMessage(`{}`)); !errors.Is(err, ErrNotAssigned) {
		t.Fatalf("SetConfig by another node: %v", err)
	}
	if err := g1.SetConfig(ctx, "A", "S", "n1", json.RawMessage(`{"v":2}`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "config everywhere", func() bool {
		for _, name := range all {
			if a, _ := n.group(name).Lookup("A", "S"); string(a.Config) != `{"v":2}` {
				return false
			}
		}
		return true
	})
	if err := g2.Unassign(ctx, "A", "S", "n2"); !errors.Is(err, ErrNotAssigned) {
		t.Fatalf("Unassign by another node: %v", err)
	}
	if err := g1.Unassign(ctx, "A", "S", "n1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := g1.Lookup("A", "S"); ok {
		t.Fatal("still assigned on the proposer after Unassign returned")
	}
	// Now anyone may take the name.
	if a := assign(t, g2, assignment("S", "n2")); a.Node != "n2" {
		t.Fatalf("reassign: %+v", a)
	}
	if got := g2.Streams("A"); len(got) != 1 || got[0].Stream != "S" {
		t.Fatalf("Streams: %+v", got)
	}
}

func TestOnChange(t *testing.T) {
	n := newNetwork(t)
	changes := make(chan string, 16)
	g := n.start("n1", "", func(o *Options) {
		o.OnChange = func() { changes <- "change" }
	})
	waitFormed(t, n, []string{"n1"})
	assign(t, g, assignment("S", "n1"))
	select {
	case <-changes:
	case <-time.After(10 * time.Second):
		t.Fatal("no OnChange after an assignment")
	}
}

func TestLeaderLoss(t *testing.T) {
	n := newNetwork(t)
	all := names("n", 3)
	for _, name := range all {
		n.start(name, "", nil)
	}
	waitFormed(t, n, all)
	old := n.group("n1").Leader()
	rest := slices.DeleteFunc(slices.Clone(all), func(s string) bool { return s == old })
	n.partition([]string{old})
	waitFor(t, 10*time.Second, "a new leader", func() bool {
		l := n.group(rest[0]).Leader()
		return l != "" && l != old && n.group(rest[1]).Leader() == l
	})
	assign(t, n.group(rest[0]), assignment("S", rest[0]))
	waitAssigned(t, n, rest, "S", rest[0])
	n.heal()
	waitAssigned(t, n, all, "S", rest[0])
}

func TestMinorityUnavailable(t *testing.T) {
	n := newNetwork(t)
	all := names("n", 3)
	for _, name := range all {
		n.start(name, "", nil)
	}
	waitFormed(t, n, all)
	n.partition([]string{"n1"})
	g := n.group("n1")
	for range 2 { // with and without a (stale) leader known
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		start := time.Now()
		_, err := g.Assign(ctx, assignment("S", "n1"))
		cancel()
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Assign in a minority: %v, want ErrUnavailable", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("ErrUnavailable after %v", d)
		}
	}
	n.heal()
	assign(t, n.group("n2"), assignment("T", "n2"))
	waitAssigned(t, n, all, "T", "n2")
}

func TestRestartKeepsAssignments(t *testing.T) {
	n := newNetwork(t)
	all := names("n", 3)
	dirs := map[string]string{}
	for _, name := range all {
		dirs[name] = filepath.Join(t.TempDir(), name)
		n.start(name, dirs[name], nil)
	}
	waitFormed(t, n, all)
	cluster := n.group("n1").Cluster()
	first := assign(t, n.group("n2"), assignment("S", "n2"))
	waitAssigned(t, n, all, "S", "n2")
	formed := n.logged("bootstraps") + n.logged("joins")
	for _, name := range all {
		n.stop(name)
	}
	for _, name := range all {
		n.start(name, dirs[name], nil)
	}
	waitFormed(t, n, all)
	if c := n.group("n3").Cluster(); c != cluster {
		t.Fatalf("cluster %x after restart, was %x", c, cluster)
	}
	waitAssigned(t, n, all, "S", "n2")
	if a := assign(t, n.group("n3"), assignment("S", "n3")); a.Revision != first.Revision || a.Node != "n2" {
		t.Fatalf("assign after restart: %+v, first was %+v", a, first)
	}
	if c := n.logged("bootstraps") + n.logged("joins"); c != formed {
		t.Errorf("restarted members bootstrapped or joined again")
	}
}

// A member restarted from its directory while the others run resumes
// its place (no join, no bootstrap).
func TestRestartOneMember(t *testing.T) {
	n := newNetwork(t)
	all := names("n", 3)
	dir := filepath.Join(t.TempDir(), "n3")
	for _, name := range all {
		d := ""
		if name == "n3" {
			d = dir
		}
		n.start(name, d, nil)
	}
	waitFormed(t, n, all)
	formed := n.logged("joins")
	n.stop("n3")
	assign(t, n.group("n1"), assignment("S", "n1"))
	n.start("n3", dir, nil)
	waitAssigned(t, n, all, "S", "n1")
	waitFormed(t, n, all)
	if n.logged("joins") != formed {
		t.Fatal("a restarted member asked to join")
	}
}

func TestSnapshotCatchUp(t *testing.T) {
	n := newNetwork(t)
	all := names("n", 3)
	dirs := map[string]string{}
	for _, name := range all {
		dirs[name] = filepath.Join(t.TempDir(), name)
		n.start(name, dirs[name], func(o *Options) { o.SnapshotEvery = 8 })
	}
	waitFormed(t, n, all)
	n.partition([]string{"n3"})
	const count = 40
	for i := range count {
		assign(t, n.group("n1"), assignment(fmt.Sprintf("S%02d", i), "n1"))
	}
	n.heal()
	waitFor(t, 10*time.Second, "n3 catching up", func() bool { return len(n.group("n3").Streams("A")) == count })
	if n.snaps.Load() == 0 {
		t.Error("n3 caught up without a snapshot: the log was not compacted")
	}
	// And the compacted logs load after a restart.
	for _, name := range all {
		n.stop(name)
	}
	for _, name := range all {
		n.start(name, dirs[name], nil)
	}
	waitFor(t, 10*time.Second, "assignments after restart", func() bool {
		for _, name := range all {
			if len(n.group(name).Streams("A")) != count {
				return false
			}
		}
		return true
	})
}

func TestTwoGroupsNotMerged(t *testing.T) {
	n := newNetwork(t)
	a, b := names("a", 3), names("b", 3)
	n.partition(a, b)
	for _, name := range append(slices.Clone(a), b...) {
		n.start(name, "", nil)
	}
	waitFormed(t, n, a)
	waitFormed(t, n, b)
	assign(t, n.group("a1"), assignment("X", "a1"))
	assign(t, n.group("b1"), assignment("Y", "b1"))
	n.heal()
	waitFor(t, 10*time.Second, "the conflict logged on both sides", func() bool {
		return n.logged("a1: ERROR: meta: peer b") > 0 && n.logged("b1: ERROR: meta: peer a") > 0
	})
	assign(t, n.group("a2"), assignment("Z", "a2"))
	waitAssigned(t, n, a, "Z", "a2")
	waitFormed(t, n, a)
	waitFormed(t, n, b)
	for _, name := range b {
		if _, ok := n.group(name).Lookup("A", "X"); ok {
			t.Fatalf("%s sees group a's assignment", name)
		}
		if _, ok := n.group(name).Lookup("A", "Z"); ok {
			t.Fatalf("%s sees group a's assignment", name)
		}
	}
}

func TestOpenCorrupt(t *testing.T) {
	n := newNetwork(t)
	dir := t.TempDir()
	db, err := repl.OpenDB(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Log(repl.MetaGroup).SetMeta("cluster", []byte("bad")); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(Options{Name: "n1", Dir: dir, Transport: endpoint{n, "n1"}})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open: %v, want ErrCorrupt", err)
	}
}
