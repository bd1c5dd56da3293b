package repl

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// orderFSM records the first byte of every entry it applies.
type orderFSM struct {
	mu   sync.Mutex
	tags []byte
}

func (f *orderFSM) Apply(_ uint64, data []byte) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(data) > 0 {
		f.tags = append(f.tags, data[0])
	}
	return nil
}
func (f *orderFSM) ApplyConfChange(uint64, *raftpb.ConfChange, *raftpb.ConfState) {}
func (f *orderFSM) Snapshot() ([]byte, error)                                     { return []byte("{}"), nil }
func (f *orderFSM) Restore([]byte) error                                          { return nil }

func (f *orderFSM) applied() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return bytes.Clone(f.tags)
}

// TestProposeAsyncOrderWhenDropped: Raft drops a proposal that would
// take the uncommitted entries past Config.MaxUncommittedBytes, but
// takes a smaller one right after it. Proposals of one goroutine must
// still be applied in call order: the one dropped is not overtaken by
// the ones made after it.
func TestProposeAsyncOrderWhenDropped(t *testing.T) {
	var holdApps atomic.Bool // the leader's appends are lost: nothing commits
	fsms := map[uint64]*orderFSM{1: {}, 2: {}, 3: {}}
	_, lead := startTrio(t, func(id uint64) Config {
		return Config{FSM: fsms[id], Tick: 10 * time.Millisecond, ElectionTicks: 50, HeartbeatTicks: 1, MaxUncommittedBytes: 1000}
	}, func(m *raftpb.Message) bool { return holdApps.Load() && m.GetType() == raftpb.MsgApp })
	// Everything up to now committed and applied on the leader.
	waitFor(t, "leader applied", func() bool { st := lead.Status(); return st.Applied == st.LastIndex })

	holdApps.Store(true)
	results := make(chan byte, 3)
	propose := func(tag byte, size int) {
		data := bytes.Repeat([]byte{tag}, size)
		lead.ProposeAsync(data, 20*time.Second, func(_ any, err error) {
			if err != nil {
				t.Errorf("proposal %c: %v", tag, err)
			}
			results <- tag
		})
	}
	propose('a', 100)  // taken: nothing uncommitted before it
	propose('b', 2000) // dropped: past the bound
	propose('c', 100)  // fits beside 'a'
	// Give the retry loop a few ticks in which it could take 'c' while
	// 'b' is still dropped (a bounded wait: it ends early once 'c' is
	// proposed).
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) && !proposed(lead, 'c') {
		time.Sleep(5 * time.Millisecond)
	}
	holdApps.Store(false)
	for range 3 {
		select {
		case <-results:
		case <-time.After(10 * time.Second):
			t.Fatal("proposals not applied within 10 s")
		}
	}
	for id, f := range fsms {
		waitFor(t, "3 entries applied", func() bool { return len(f.applied()) >= 3 })
		if got := string(f.applied()); got != "abc" {
			t.Fatalf("node %d applied %q, want \"abc\" (one goroutine's proposals in call order)", id, got)
		}
	}
}

// proposed reports whether n's asynchronous proposal whose data starts
// with tag was handed to Raft.
func proposed(n *Node, tag byte) bool {
	n.async.mu.Lock()
	defer n.async.mu.Unlock()
	for _, p := range n.async.byID {
		if len(p.buf) > 16 && p.buf[16] == tag && !p.proposedAt.IsZero() {
			return true
		}
	}
	return false
}

// TestProposeAsyncNotReproposedByLeader: a proposal Raft took into the
// log of this node while it leads stays there, and commits, for as long
// as the node leads in that term; proposing it again after an election
// timeout only adds a duplicate to replicate. Under overload (nothing
// applied within an election timeout) that made every proposal in
// flight go into the log again, every election timeout.
func TestProposeAsyncNotReproposedByLeader(t *testing.T) {
	const tick = 10 * time.Millisecond
	var holdApps atomic.Bool
	_, lead := startTrio(t, func(uint64) Config {
		return Config{FSM: &countFSM{}, Tick: tick, ElectionTicks: 20, HeartbeatTicks: 1}
	}, func(m *raftpb.Message) bool { return holdApps.Load() && m.GetType() == raftpb.MsgApp })
	waitFor(t, "leader applied", func() bool { st := lead.Status(); return st.Applied == st.LastIndex })
	start := lead.Status()
	holdApps.Store(true)
	const count = 5
	results := make(chan error, count)
	for i := range count {
		lead.ProposeAsync([]byte{byte(i)}, 20*time.Second, func(_ any, err error) { results <- err })
	}
	// Four election timeouts (the retry period) without a commit: the
	// log must hold each proposal once (a bounded wait, cut short by a
	// duplicate).
	deadline := time.Now().Add(4 * 20 * tick)
	for time.Now().Before(deadline) && lead.Status().LastIndex <= start.LastIndex+count {
		time.Sleep(tick)
	}
	st := lead.Status()
	if st.Term != start.Term || st.Leader != start.Leader {
		t.Skipf("leadership changed meanwhile (term %d → %d)", start.Term, st.Term)
	}
	if got := st.LastIndex - start.LastIndex; got != count {
		t.Fatalf("the leader's log grew by %d entries for %d proposals it took (proposed again while it led in the same term)", got, count)
	}
	holdApps.Store(false)
	for range count {
		select {
		case err := <-results:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("proposals not applied within 10 s")
		}
	}
}
