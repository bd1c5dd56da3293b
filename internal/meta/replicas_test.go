package meta

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

func applyOp(t *testing.T, f *fsm, index uint64, o op) result {
	t.Helper()
	data, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return f.Apply(index, data).(result)
}

func peerNames(names ...string) []Peer {
	out := make([]Peer, len(names))
	for i, n := range names {
		out[i] = Peer{ID: 99, Name: n} // ids are the group's to give
	}
	return out
}

func TestAssignReplicated(t *testing.T) {
	f := newFSM()
	a := assignment("R", "ignored")
	a.Peers = peerNames("n2", "n3", "n1")
	got := applyOp(t, f, 7, op{Op: "assign", Assignment: a}).a
	want := []Peer{{1, "n2"}, {2, "n3"}, {3, "n1"}}
	if !reflect.DeepEqual(got.Peers, want) || got.Node != "n2" || got.Group != 7 || got.PeerSeq != 3 || got.Revision != 7 {
		t.Fatalf("replicated assignment: %+v", got)
	}
	// R1: no group, no peers, even when one peer is named.
	r1 := assignment("S", "n1")
	r1.Peers, r1.Group = peerNames("n1"), 5
	if got := applyOp(t, f, 8, op{Op: "assign", Assignment: r1}).a; got.Group != 0 || got.Peers != nil || got.Node != "n1" {
		t.Fatalf("R1 assignment: %+v", got)
	}
	// Any peer may record the configuration or release it.
	if res := applyOp(t, f, 9, op{Op: "config", Assignment: Assignment{Account: "A", Stream: "R", Node: "n3", Config: json.RawMessage(`{"v":2}`)}}); res.err != nil {
		t.Fatalf("config by a peer: %v", res.err)
	}
	if res := applyOp(t, f, 10, op{Op: "config", Assignment: Assignment{Account: "A", Stream: "R", Node: "n4"}}); !errors.Is(res.err, ErrNotAssigned) {
		t.Fatalf("config by a stranger: %v", res.err)
	}
	g := &Group{fsm: f}
	if load := g.Load(); !reflect.DeepEqual(load, map[string]int{"n1": 2, "n2": 1, "n3": 1}) {
		t.Fatalf("Load: %v", load)
	}
	if load := g.Load("B"); len(load) != 0 {
		t.Fatalf("Load of another account: %v", load)
	}
}

func TestSetPeersFSM(t *testing.T) {
	f := newFSM()
	a := assignment("R", "")
	a.Peers = peerNames("n1", "n2", "n3")
	cur := applyOp(t, f, 10, op{Op: "assign", Assignment: a}).a
	set := func(index, expect uint64, names ...string) result {
		return applyOp(t, f, index, op{Op: "peers", Expect: expect, Assignment: Assignment{Account: "A", Stream: "R", Peers: peerNames(names...)}})
	}
	if res := set(11, 9, "n1", "n2"); !errors.Is(res.err, ErrRevision) {
		t.Fatalf("stale revision: %v", res.err)
	}
	// Remove n1 (the first peer), add n4: ids kept, n4 gets 4, Node follows.
	res := set(12, cur.Revision, "n2", "n3", "n4")
	if res.err != nil {
		t.Fatal(res.err)
	}
	want := []Peer{{2, "n2"}, {3, "n3"}, {4, "n4"}}
	if got := res.a; !reflect.DeepEqual(got.Peers, want) || got.Node != "n2" || got.Group != 10 || got.Revision != 12 || got.PeerSeq != 4 {
		t.Fatalf("after peers: %+v", got)
	}
	// n1 back: a new id, never 1 again.
	res = set(13, 12, "n2", "n3", "n4", "n1")
	if res.err != nil || res.a.Peers[3] != (Peer{5, "n1"}) {
		t.Fatalf("re-added peer: %+v %v", res.a, res.err)
	}
	// 3 → 1 makes it R1; 1 → 3 a new group numbered from 1.
	res = set(14, 13, "n3")
	if res.err != nil || res.a.Group != 0 || res.a.Peers != nil || res.a.Node != "n3" {
		t.Fatalf("to R1: %+v %v", res.a, res.err)
	}
	res = set(15, 14, "n3", "n1", "n2")
	if res.err != nil || res.a.Group != 15 || !reflect.DeepEqual(res.a.Peers, []Peer{{1, "n3"}, {2, "n1"}, {3, "n2"}}) {
		t.Fatalf("to R3: %+v %v", res.a, res.err)
	}
	if res := set(16, 15, "n1", "n1"); res.err == nil {
		t.Fatal("a peer named twice was accepted")
	}
	if res := applyOp(t, f, 17, op{Op: "peers", Assignment: Assignment{Account: "A", Stream: "nope", Peers: peerNames("n1")}}); !errors.Is(res.err, ErrNotAssigned) {
		t.Fatalf("peers of an unknown stream: %v", res.err)
	}
}

func TestSnapshotCarriesPeers(t *testing.T) {
	f := newFSM()
	a := assignment("R", "")
	a.Peers = peerNames("n1", "n2", "n3")
	want := applyOp(t, f, 3, op{Op: "assign", Assignment: a}).a
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	g := newFSM()
	if err := g.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if got, _ := g.lookup("A", "R"); !reflect.DeepEqual(got, want) {
		t.Fatalf("restored %+v, want %+v", got, want)
	}
	// A snapshot written before replication still loads, as R1.
	old := `{"members":{"1":"n1"},"assignments":[{"account":"A","stream":"S","node":"n1","config":{"name":"S"},"created":"2026-01-01T00:00:00Z","revision":4}]}`
	if err := g.Restore([]byte(old)); err != nil {
		t.Fatal(err)
	}
	if got, ok := g.lookup("A", "S"); !ok || got.Node != "n1" || got.Peers != nil || got.Group != 0 || got.Revision != 4 {
		t.Fatalf("old snapshot: %+v", got)
	}
}

func TestSetPeersAndStepDown(t *testing.T) {
	n := newNetwork(t)
	all := names("n", 3)
	for _, name := range all {
		n.start(name, "", nil)
	}
	waitFormed(t, n, all)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a := assignment("R", "")
	a.Peers = peerNames("n1", "n2", "n3")
	got := assign(t, n.group("n2"), a)
	if got.Group != got.Revision || got.Group == 0 {
		t.Fatalf("group id: %+v", got)
	}
	if _, err := n.group("n3").SetPeers(ctx, "A", "R", got.Revision+100, peerNames("n1")); !errors.Is(err, ErrRevision) {
		t.Fatalf("stale SetPeers: %v", err)
	}
	after, err := n.group("n3").SetPeers(ctx, "A", "R", got.Revision, peerNames("n2", "n3"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "peers everywhere", func() bool {
		for _, name := range all {
			if a, _ := n.group(name).Lookup("A", "R"); !reflect.DeepEqual(a.Peers, after.Peers) || a.Group != got.Group {
				return false
			}
		}
		return true
	})

	leader := n.group("n1").Leader()
	for _, name := range all {
		if name != leader {
			if err := n.group(name).StepDown(ctx); !errors.Is(err, ErrNotLeader) {
				t.Fatalf("StepDown on follower %s: %v", name, err)
			}
		}
	}
	if err := n.group(leader).StepDown(ctx); err != nil {
		t.Fatalf("StepDown on leader %s: %v", leader, err)
	}
	waitFor(t, 10*time.Second, "a new leader everywhere", func() bool {
		l := n.group("n1").Leader()
		for _, name := range all {
			if g := n.group(name).Leader(); g == "" || g != l || g == leader {
				return false
			}
		}
		return true
	})
	// To a named member.
	leader = n.group("n1").Leader()
	next := "n1"
	if leader == "n1" {
		next = "n2"
	}
	if err := n.group(leader).StepDownTo(ctx, leader); err == nil {
		t.Fatal("StepDownTo itself")
	}
	if err := n.group(leader).StepDownTo(ctx, "n9"); err == nil {
		t.Fatal("StepDownTo a stranger")
	}
	if err := n.group(leader).StepDownTo(ctx, next); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, next+" leads", func() bool { return n.group(next).Leader() == next })
	// Alone, a leader has nobody to hand over to.
	single := newNetwork(t)
	g := single.start("s1", "", nil)
	waitFormed(t, single, []string{"s1"})
	if err := g.StepDown(ctx); !errors.Is(err, ErrNoSuccessor) {
		t.Fatalf("StepDown alone: %v", err)
	}
}
