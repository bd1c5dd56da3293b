package repl

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// TestLeaderOnlyNeverForwards: on a Config.LeaderOnly group, a follower
// proposes nothing (a stream's publish reaching an old leader still
// subscribed must not be forwarded to the new one, which stores its own
// copy): ProposeAsync and Propose there fail with ErrNotLeader, and only
// the leader's proposals are applied, once each, on every member.
func TestLeaderOnlyNeverForwards(t *testing.T) {
	nodes := map[uint64]*Node{}
	fsms := map[uint64]*orderFSM{}
	var mu sync.Mutex
	db, err := OpenDB("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	peers := []raft.Peer{{ID: 1}, {ID: 2}, {ID: 3}}
	for id := uint64(1); id <= 3; id++ {
		fsms[id] = &orderFSM{}
		n, err := StartNode(Config{
			ID: id, Log: db.Log(id), FSM: fsms[id], Bootstrap: peers, LeaderOnly: true,
			Tick: 10 * time.Millisecond, ElectionTicks: 50, HeartbeatTicks: 1,
			Send: func(m *raftpb.Message) bool {
				mu.Lock()
				to := nodes[m.GetTo()]
				mu.Unlock()
				if to != nil {
					to.Step(proto.Clone(m).(*raftpb.Message))
				}
				return true
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		nodes[id] = n
		mu.Unlock()
		defer n.Stop()
	}
	var lead, follower *Node
	waitFor(t, "a leader known to all", func() bool {
		l := nodes[1].Leader()
		return l != 0 && nodes[2].Leader() == l && nodes[3].Leader() == l
	})
	lead = nodes[nodes[1].Leader()]
	for id, n := range nodes {
		if id != lead.cfg.ID {
			follower = n
		}
	}

	got := make(chan error, 1)
	follower.ProposeAsync([]byte("f"), 5*time.Second, func(_ any, err error) { got <- err })
	if err := <-got; !errors.Is(err, ErrNotLeader) {
		t.Fatalf("ProposeAsync on a follower: %v, want ErrNotLeader", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := follower.Propose(ctx, []byte("g")); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Propose on a follower: %v, want ErrNotLeader", err)
	}

	lead.ProposeAsync([]byte("x"), 5*time.Second, func(_ any, err error) { got <- err })
	if err := <-got; err != nil {
		t.Fatalf("ProposeAsync on the leader: %v", err)
	}
	if _, err := lead.Propose(ctx, []byte("y")); err != nil {
		t.Fatalf("Propose on the leader: %v", err)
	}
	for id, f := range fsms {
		waitFor(t, "the leader's entries applied", func() bool { return len(f.applied()) >= 2 })
		// A forwarded proposal would have committed well before the
		// leader's own second one.
		if s := string(f.applied()); s != "xy" {
			t.Fatalf("node %d applied %q, want \"xy\"", id, s)
		}
	}
}
