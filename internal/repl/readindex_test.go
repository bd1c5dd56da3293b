package repl

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// TestReadIndexSeesCommitted: after a write is acknowledged on one
// member, a read index on every other member returns only once that
// member applied it.
func TestReadIndexSeesCommitted(t *testing.T) {
	c := newTestCluster(t, 3)
	leader := c.waitLeader(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 20 {
		if _, err := c.nodes[leader].Propose(ctx, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		want := c.nodes[leader].appliedIndex.Load()
		for id, n := range c.nodes {
			if err := n.ReadIndex(ctx); err != nil {
				t.Fatalf("node %d: read index: %v", id, err)
			}
			if got := n.appliedIndex.Load(); got < want {
				t.Fatalf("node %d: read index returned at applied %d, before the acknowledged write at %d", id, got, want)
			}
		}
	}
}

// TestReadIndexIsolated: a member cut off from the others gets no read
// index (it would answer from stale state), within its context.
func TestReadIndexIsolated(t *testing.T) {
	c := newTestCluster(t, 3)
	leader := c.waitLeader(t)
	c.isolate(leader)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := c.nodes[leader].ReadIndex(ctx); err == nil {
		t.Fatal("an isolated leader confirmed a read index")
	}
}

// testCluster is a group of Nodes in one process, wired to each other
// directly, with links that can be cut.
type testCluster struct {
	nodes map[uint64]*Node
	mu    sync.Mutex
	cut   map[uint64]bool // isolated nodes
}

type countFSM struct{ applied int }

func (f *countFSM) Apply(uint64, []byte) any                                      { f.applied++; return f.applied }
func (f *countFSM) ApplyConfChange(uint64, *raftpb.ConfChange, *raftpb.ConfState) {}
func (f *countFSM) Snapshot() ([]byte, error)                                     { return []byte("{}"), nil }
func (f *countFSM) Restore([]byte) error                                          { return nil }

func newTestCluster(t *testing.T, size int) *testCluster {
	t.Helper()
	c := &testCluster{nodes: map[uint64]*Node{}, cut: map[uint64]bool{}}
	var peers []raft.Peer
	for i := 1; i <= size; i++ {
		peers = append(peers, raft.Peer{ID: uint64(i)})
	}
	db, err := OpenDB("")
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= size; i++ {
		id := uint64(i)
		n, err := StartNode(Config{
			ID: id, Log: db.Log(id), FSM: &countFSM{}, Bootstrap: peers,
			Tick: 10 * time.Millisecond, ElectionTicks: 10, HeartbeatTicks: 1,
			Send: func(m *raftpb.Message) bool {
				c.mu.Lock()
				to, blocked := c.nodes[m.GetTo()], c.cut[id] || c.cut[m.GetTo()]
				c.mu.Unlock()
				if to == nil || blocked {
					return false
				}
				to.Step(proto.Clone(m).(*raftpb.Message))
				return true
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		c.mu.Lock()
		c.nodes[id] = n
		c.mu.Unlock()
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			n.Stop()
		}
	})
	return c
}

// waitLeader returns the id of the leader every node agrees on.
func (c *testCluster) waitLeader(t *testing.T) uint64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var lead uint64
		agree := true
		for _, n := range c.nodes {
			l := n.Leader()
			if l == 0 || (lead != 0 && l != lead) {
				agree = false
				break
			}
			lead = l
		}
		if agree && lead != 0 {
			return lead
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no leader within 10s")
	return 0
}

// isolate cuts every link of node id.
func (c *testCluster) isolate(id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut[id] = true
}
