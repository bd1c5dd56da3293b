package repl

import (
	"sync"
	"testing"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// startTrio starts a group of three nodes (ids 1 to 3) on one in-memory
// log database, wired to each other in process, each configured by
// cfg(id) with ID, Log, Bootstrap and Send filled in here; a message for
// which lost returns true (lost may be nil) is dropped on the way. It
// returns the nodes by id and the leader once all three know it; the
// nodes and the database stop when the test ends.
func startTrio(t *testing.T, cfg func(id uint64) Config, lost func(m *raftpb.Message) bool) (map[uint64]*Node, *Node) {
	t.Helper()
	db, err := OpenDB("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	nodes := map[uint64]*Node{}
	var mu sync.Mutex
	peers := []raft.Peer{{ID: 1}, {ID: 2}, {ID: 3}}
	for id := uint64(1); id <= 3; id++ {
		c := cfg(id)
		c.ID, c.Log, c.Bootstrap = id, db.Log(id), peers
		c.Send = func(m *raftpb.Message) bool {
			if lost != nil && lost(m) {
				return true // lost on the way
			}
			mu.Lock()
			to := nodes[m.GetTo()]
			mu.Unlock()
			if to != nil {
				to.Step(proto.Clone(m).(*raftpb.Message))
			}
			return true
		}
		n, err := StartNode(c)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		nodes[id] = n
		mu.Unlock()
		t.Cleanup(n.Stop)
	}
	waitFor(t, "a leader known to all", func() bool {
		l := nodes[1].Leader()
		return l != 0 && nodes[2].Leader() == l && nodes[3].Leader() == l
	})
	return nodes, nodes[nodes[1].Leader()]
}
