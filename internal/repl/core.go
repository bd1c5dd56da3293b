package repl

import (
	"sync"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// core is a raft.RawNode behind a mutex, driven by the Node's own
// goroutine. The raft package's Node runs a second goroutine that every
// proposal, received message, Ready and Advance crosses by a channel
// (a proposal waits for that goroutine to take it); under load those
// crossings, not the work, set a put's latency. Here a proposal or a
// message is stepped on the caller's goroutine and the Node's goroutine
// is only woken; whatever arrives while it handles a Ready goes out
// together in the next one.
type core struct {
	mu      sync.Mutex
	rn      *raft.RawNode
	stopped bool
	wake    chan struct{} // capacity 1: the Node's goroutine has work
}

func newCore(c *raft.Config, bootstrap []raft.Peer) (*core, error) {
	rn, err := raft.NewRawNode(c)
	if err != nil {
		return nil, err
	}
	if len(bootstrap) > 0 {
		if err := rn.Bootstrap(bootstrap); err != nil {
			return nil, err
		}
	}
	return &core{rn: rn, wake: make(chan struct{}, 1)}, nil
}

// signal wakes the Node's goroutine.
func (c *core) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// do runs fn on the RawNode unless stopped, then wakes the Node's
// goroutine; raft.ErrStopped once stopped.
func (c *core) do(fn func(rn *raft.RawNode) error) error {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return raft.ErrStopped
	}
	err := fn(c.rn)
	c.mu.Unlock()
	c.signal()
	return err
}

func (c *core) tick() { _ = c.do(func(rn *raft.RawNode) error { rn.Tick(); return nil }) }

func (c *core) propose(data []byte) error {
	return c.do(func(rn *raft.RawNode) error { return rn.Propose(data) })
}

// proposeHeld proposes data like propose and returns the term in which
// this node leads when Raft took data into its own log; 0 when it does
// not lead (the proposal was forwarded to the leader, which may drop
// it).
func (c *core) proposeHeld(data []byte) (uint64, error) {
	var term uint64
	err := c.do(func(rn *raft.RawNode) error {
		if err := rn.Propose(data); err != nil {
			return err
		}
		term = leaderTerm(rn)
		return nil
	})
	return term, err
}

// proposeInTerm proposes data only if this node leads in term (taken
// into its own log); ErrNotLeader, and nothing proposed, when it does
// not. It returns the term it leads in.
func (c *core) proposeInTerm(data []byte, term uint64) (uint64, error) {
	var t uint64
	err := c.do(func(rn *raft.RawNode) error {
		if t = leaderTerm(rn); t == 0 || t != term {
			return ErrNotLeader
		}
		return rn.Propose(data)
	})
	return t, err
}

// leaderTerm returns the term in which this node leads, 0 when it does
// not.
func (c *core) leaderTerm() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return leaderTerm(c.rn)
}

func leaderTerm(rn *raft.RawNode) uint64 {
	if st := rn.BasicStatus(); st.RaftState == raft.StateLeader {
		return st.GetTerm()
	}
	return 0
}

func (c *core) proposeConfChange(cc *raftpb.ConfChange) error {
	return c.do(func(rn *raft.RawNode) error { return rn.ProposeConfChange(cc) })
}

func (c *core) step(m *raftpb.Message) error {
	return c.do(func(rn *raft.RawNode) error { return rn.Step(m) })
}

func (c *core) campaign() error { return c.do(func(rn *raft.RawNode) error { return rn.Campaign() }) }

func (c *core) transferLeader(to uint64) {
	_ = c.do(func(rn *raft.RawNode) error { rn.TransferLeader(to); return nil })
}

func (c *core) readIndex(rctx []byte) error {
	return c.do(func(rn *raft.RawNode) error { rn.ReadIndex(rctx); return nil })
}

func (c *core) reportUnreachable(id uint64) {
	_ = c.do(func(rn *raft.RawNode) error { rn.ReportUnreachable(id); return nil })
}

func (c *core) reportSnapshot(id uint64, st raft.SnapshotStatus) {
	_ = c.do(func(rn *raft.RawNode) error { rn.ReportSnapshot(id, st); return nil })
}

func (c *core) applyConfChange(cc *raftpb.ConfChange) *raftpb.ConfState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rn.ApplyConfChange(cc)
}

func (c *core) status() raft.Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rn.Status()
}

// ready returns the next Ready, if there is one; the caller hands it
// back to advance once handled.
func (c *core) ready() (raft.Ready, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped || !c.rn.HasReady() {
		return raft.Ready{}, false
	}
	return c.rn.Ready(), true
}

func (c *core) advance(rd raft.Ready) {
	c.mu.Lock()
	c.rn.Advance(rd)
	c.mu.Unlock()
}

// stop makes every later call return raft.ErrStopped.
func (c *core) stop() {
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
}
