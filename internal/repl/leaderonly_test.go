package repl

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestLeaderOnlyNeverForwards: on a Config.LeaderOnly group, a follower
// proposes nothing (a stream's publish reaching an old leader still
// subscribed must not be forwarded to the new one, which stores its own
// copy): ProposeAsync and Propose there fail with ErrNotLeader, and only
// the leader's proposals are applied, once each, on every member.
func TestLeaderOnlyNeverForwards(t *testing.T) {
	fsms := map[uint64]*orderFSM{1: {}, 2: {}, 3: {}}
	nodes, lead := startTrio(t, func(id uint64) Config {
		return Config{FSM: fsms[id], LeaderOnly: true, Tick: 10 * time.Millisecond, ElectionTicks: 50, HeartbeatTicks: 1}
	}, nil)
	var follower *Node
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
