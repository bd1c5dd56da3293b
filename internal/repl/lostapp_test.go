package repl

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// TestLostAppendRecovers: with one append in flight per follower, an
// append lost on the way (a route reconnecting) leaves the follower
// paused until the next heartbeat answer makes the leader send again
// (the follower refuses the gap and is probed): a proposal made while
// every follower's append is lost still commits within a few heartbeats,
// without an election and long before a proposal is made again.
func TestLostAppendRecovers(t *testing.T) {
	const tick = 20 * time.Millisecond
	var lose atomic.Int32 // appends still to lose
	_, lead := startTrio(t, func(uint64) Config {
		return Config{FSM: &countFSM{}, Tick: tick, ElectionTicks: 100, HeartbeatTicks: 1}
	}, func(m *raftpb.Message) bool {
		return m.GetType() == raftpb.MsgApp && len(m.GetEntries()) > 0 && lose.Add(-1) >= 0
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := lead.Propose(ctx, []byte("warm")); err != nil {
		t.Fatal(err)
	}
	term := lead.Status().Term
	for round := range 5 {
		lose.Store(2) // the next append to each follower
		start := time.Now()
		if _, err := lead.Propose(ctx, []byte{byte(round)}); err != nil {
			t.Fatal(err)
		}
		// The retry of a proposal comes after an election timeout
		// (100 ticks); heartbeats every tick.
		d := time.Since(start)
		t.Logf("round %d: committed after %v", round, d)
		if d > 50*tick {
			t.Fatalf("round %d: a proposal whose appends were lost committed after %v", round, d)
		}
	}
	if got := lead.Status().Term; got != term {
		t.Fatalf("term went from %d to %d: the lost appends cost an election", term, got)
	}
}
