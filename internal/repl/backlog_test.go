package repl

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// TestProposeAsyncBacklogBound: while nothing commits, a node takes at
// most Config.MaxAsyncProposals asynchronous proposals (and at most
// Config.MaxAsyncBytes of their data); the next fails at once with
// ErrBacklog, proposing nothing, and once the backlog drains the node
// takes proposals again. Every proposal taken is applied once.
func TestProposeAsyncBacklogBound(t *testing.T) {
	var holdApps atomic.Bool // the leader's appends are lost: nothing commits
	fsms := map[uint64]*orderFSM{1: {}, 2: {}, 3: {}}
	_, lead := startTrio(t, func(id uint64) Config {
		return Config{FSM: fsms[id], Tick: 10 * time.Millisecond, ElectionTicks: 50, HeartbeatTicks: 1,
			MaxAsyncProposals: 4, MaxAsyncBytes: 1000}
	}, func(m *raftpb.Message) bool { return holdApps.Load() && m.GetType() == raftpb.MsgApp })
	waitFor(t, "leader applied", func() bool { st := lead.Status(); return st.Applied == st.LastIndex })

	holdApps.Store(true)
	results := make(chan error, 16)
	propose := func(tag byte, size int) error {
		got := make(chan error, 1)
		lead.ProposeAsync(bytes.Repeat([]byte{tag}, size), 20*time.Second, func(_ any, err error) {
			select {
			case got <- err:
			default:
			}
			results <- err
		})
		select {
		case err := <-got:
			return err // answered at once
		case <-time.After(50 * time.Millisecond):
			return nil // in flight
		}
	}
	for _, tag := range []byte("abcd") {
		if err := propose(tag, 10); err != nil {
			t.Fatalf("proposal %c: %v", tag, err)
		}
	}
	if err := propose('e', 10); !errors.Is(err, ErrBacklog) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("fifth proposal with four in flight: %v, want ErrBacklog (an ErrUnavailable)", err)
	}
	<-results // e's

	holdApps.Store(false)
	for range 4 {
		if err := <-results; err != nil {
			t.Fatalf("a proposal taken before the bound: %v", err)
		}
	}
	// Drained: one proposal of 900 bytes is taken, a second would pass
	// MaxAsyncBytes.
	holdApps.Store(true)
	if err := propose('f', 900-16); err != nil {
		t.Fatalf("proposal f: %v", err)
	}
	if err := propose('g', 200); !errors.Is(err, ErrBacklog) {
		t.Fatalf("proposal past the byte bound: %v, want ErrBacklog", err)
	}
	<-results // g's
	holdApps.Store(false)
	if err := <-results; err != nil {
		t.Fatalf("proposal f: %v", err)
	}
	for id, f := range fsms {
		waitFor(t, "every proposal taken applied", func() bool { return len(f.applied()) >= 5 })
		if s := string(f.applied()); s != "abcdf" {
			t.Fatalf("node %d applied %q, want \"abcdf\"", id, s)
		}
	}
}
