package repl

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// FSM is the state machine a Node drives. All methods are called on the
// Node's goroutine, one at a time, in log order; they must not call back
// into the Node's Propose (it would wait for itself).
type FSM interface {
	// Apply applies the data of a committed normal entry (as given to
	// Propose) at index. Its result goes to the proposer, when the
	// proposal came from this node and is still waiting.
	Apply(index uint64, data []byte) any
	// ApplyConfChange is told of a committed configuration change after
	// Raft applied it; cs is the configuration that results.
	ApplyConfChange(index uint64, cc *raftpb.ConfChange, cs *raftpb.ConfState)
	// Snapshot encodes the whole state (everything applied so far).
	Snapshot() ([]byte, error)
	// Restore replaces the whole state with a snapshot's data.
	Restore(data []byte) error
}

// Config configures a Node.
type Config struct {
	ID    uint64 // this node's Raft id, never 0
	Group uint64 // for log lines
	Log   *Log
	FSM   FSM
	// Send hands one outgoing message to the transport. Called on the
	// Node's goroutine after the state the message depends on is
	// durable; it must not block (drop instead: Raft retries). It
	// returns false when the message was dropped.
	Send func(m *raftpb.Message) bool
	// Bootstrap, on an empty log, starts a new group with these members.
	// Nil on an empty log starts a node that waits to be added by the
	// group's leader; a non-empty log always resumes.
	Bootstrap []raft.Peer
	// Initial, on an empty log and without Bootstrap, starts the group
	// from a snapshot at index 1 (term 1) whose configuration is these
	// voters and whose FSM data is InitialData: the group of a state
	// that existed before it (a stream made replicated), which members
	// added later receive as a snapshot rather than as entries.
	Initial     []uint64
	InitialData []byte
	// Tick is the Raft tick; ElectionTicks and HeartbeatTicks count it.
	Tick                          time.Duration
	ElectionTicks, HeartbeatTicks int
	// ExternalTick: the node keeps no ticker of its own; its owner
	// calls Tick every Tick (a Host ticks all its groups from one
	// goroutine). Tick is still the period Propose and ReadIndex retry
	// at.
	ExternalTick bool
	// SnapshotEvery: entries applied between two snapshots (which then
	// compact the log).
	SnapshotEvery uint64
	// SnapshotBytes: a snapshot is also taken once the entries applied
	// since the last one hold this many bytes of data (default 64 MiB),
	// and the entries kept in memory after a snapshot hold at most
	// this many: the memory a group's log takes is bounded by bytes,
	// not only by SnapshotEvery entries (16384 entries of a 1 MiB
	// payload each would be 16 GiB).
	SnapshotBytes uint64
	// MaxUncommittedBytes: Raft drops a proposal (raft.ErrProposalDropped)
	// that would take the data of the entries not yet committed past
	// this many bytes (default 64 MiB); its proposer proposes again.
	MaxUncommittedBytes uint64
	// MaxAsyncProposals and MaxAsyncBytes bound the asynchronous
	// proposals in flight on this node (ProposeAsync) and their data:
	// default 8192 proposals and 64 MiB. Past either, a new one fails
	// at once with ErrBacklog. (At ten thousand commits a second, 8192
	// in flight already delay a write by most of a second.)
	MaxAsyncProposals int
	MaxAsyncBytes     int
	// LeaderOnly: Propose and ProposeAsync take a proposal only while
	// this node leads, into its own log, and never make it again once
	// the node no longer leads in the term it was taken in (the caller
	// gets ErrNotLeader, or ErrUnavailable when it may still commit);
	// nothing is forwarded to another leader. A stream group's writes
	// are so: a publish reaches every node subscribed to its subject,
	// and for a moment both an old leader and its successor are; the
	// old one forwarding its copy would store the message twice.
	LeaderOnly bool
	// OnApplied is called on the Node's goroutine after each batch of
	// committed entries (or a snapshot) was applied.
	OnApplied func()
	// OnLeader is called on the Node's goroutine when the leader this
	// node knows changes (lead 0: none), with whether it is this node.
	// It must not block: it runs before the Ready's entries are applied.
	OnLeader func(lead uint64, self bool)
	// OnLostFollower is called on the goroutine that steps the
	// follower's message (Node.Step: a route's reader), possibly
	// concurrently with any other callback, when a follower refuses
	// entries below what it acknowledged before: it
	// lost its log (a store directory emptied) and Raft keeps sending
	// it what follows its old position, until another leader starts
	// afresh. The owner may hand the leadership over.
	OnLostFollower func(id uint64)
	Logf           func(format string, args ...any)
}

// Node runs one Raft group member: a goroutine that ticks, steps
// incoming messages, persists, sends and applies (the loop of the
// raft package's README), and matches committed proposals to the
// callers waiting in Propose.
type Node struct {
	cfg     Config
	storage *raft.MemoryStorage
	rn      *core
	stop    chan struct{}
	done    chan struct{}

	leader atomic.Uint64
	seen   sync.Map              // peer id → time.Time its last message was stepped
	failed atomic.Pointer[error] // a storage error stopped the node
	lost   atomic.Bool           // a heartbeat showed the log was lost

	proposer uint64        // this instance's random incarnation
	seq      atomic.Uint64 // proposal ids: proposer(8) seq(8)

	wmu     sync.Mutex
	waiters map[uint64]chan any
	async   asyncState // ProposeAsync's proposals (async.go)

	// Read index requests (readindex.go); appliedIndex is applied, for
	// readers.
	rmu          sync.Mutex
	reads        readState
	appliedIndex atomic.Uint64

	// loop goroutine only
	dedup       *dedup
	confState   *raftpb.ConfState
	applied     uint64
	snapshotted uint64
	sinceBytes  uint64 // bytes of the entries applied since the last snapshot
	confChanged bool   // a configuration change was applied since the last snapshot
	term, vote  uint64 // of the last HardState saved
}

// ErrUnavailable: no leader accepted the proposal, or it was not applied
// before the context ended.
var ErrUnavailable = errors.New("repl: no quorum")

// ErrBacklog: ProposeAsync refused a proposal, proposing nothing, because
// as many as Config.MaxAsyncProposals (or Config.MaxAsyncBytes of data)
// are in flight. It matches ErrUnavailable.
var ErrBacklog = fmt.Errorf("%w: too many proposals in flight", ErrUnavailable)

// StartNode loads cfg.Log and starts the node's goroutine. A log that
// does not load is an error (matching ErrCorrupt when damaged).
func StartNode(cfg Config) (*Node, error) {
	if cfg.ID == 0 {
		return nil, errors.New("repl: node id 0")
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 100 * time.Millisecond
	}
	if cfg.HeartbeatTicks <= 0 {
		cfg.HeartbeatTicks = 1
	}
	if cfg.ElectionTicks <= cfg.HeartbeatTicks {
		cfg.ElectionTicks = 10
	}
	if cfg.SnapshotEvery == 0 {
		cfg.SnapshotEvery = 1024
	}
	if cfg.SnapshotBytes == 0 {
		cfg.SnapshotBytes = 64 << 20
	}
	if cfg.MaxUncommittedBytes == 0 {
		cfg.MaxUncommittedBytes = 64 << 20
	}
	if cfg.MaxAsyncProposals <= 0 {
		cfg.MaxAsyncProposals = 1 << 13
	}
	if cfg.MaxAsyncBytes <= 0 {
		cfg.MaxAsyncBytes = 64 << 20
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	st, err := cfg.Log.Load()
	if err != nil {
		return nil, err
	}
	if st.Empty() && len(cfg.Bootstrap) == 0 && len(cfg.Initial) > 0 {
		if st, err = initialState(cfg); err != nil {
			return nil, err
		}
	}
	n := &Node{
		cfg:       cfg,
		storage:   raft.NewMemoryStorage(),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		proposer:  rand.Uint64(),
		dedup:     newDedup(),
		waiters:   make(map[uint64]chan any),
		confState: &raftpb.ConfState{},
	}
	n.reads.byCtx = make(map[uint64]chan uint64)
	if st.Snapshot != nil && st.Snapshot.GetMetadata().GetIndex() > 0 {
		if err := n.storage.ApplySnapshot(st.Snapshot); err != nil {
			return nil, fmt.Errorf("%w: snapshot: %v", ErrCorrupt, err)
		}
		if err := n.restore(st.Snapshot.GetData()); err != nil {
			return nil, fmt.Errorf("%w: snapshot data: %v", ErrCorrupt, err)
		}
		n.confState = st.Snapshot.GetMetadata().GetConfState()
		n.applied = st.Snapshot.GetMetadata().GetIndex()
		n.snapshotted = n.applied
		n.appliedIndex.Store(n.applied)
	}
	if st.HardState != nil {
		n.term, n.vote = st.HardState.GetTerm(), st.HardState.GetVote()
		if err := n.storage.SetHardState(st.HardState); err != nil {
			return nil, fmt.Errorf("%w: hard state: %v", ErrCorrupt, err)
		}
	}
	if err := n.storage.Append(st.Entries); err != nil {
		return nil, fmt.Errorf("%w: entries: %v", ErrCorrupt, err)
	}
	rc := &raft.Config{
		ID:            cfg.ID,
		ElectionTick:  cfg.ElectionTicks,
		HeartbeatTick: cfg.HeartbeatTicks,
		Storage:       n.storage,
		Applied:       n.applied,
		MaxSizePerMsg: maxMsgBytes,
		// Appends in flight per follower. One (so that entries given
		// meanwhile go out as one batch) was no faster with 16 clients
		// once proposals were stepped in place, and a follower sent
		// 1 MiB entries one per round trip fell out of the leader's
		// in-memory log into snapshot catch-ups.
		MaxInflightMsgs:  64,
		MaxInflightBytes: 16 << 20,
		// Bounds the entries Raft holds uncommitted; a proposal past it
		// is dropped and its proposer proposes it again next tick.
		// (Proposals waiting so are bounded by MaxAsyncProposals and
		// MaxAsyncBytes.)
		MaxUncommittedEntriesSize: cfg.MaxUncommittedBytes,
		CheckQuorum:               true,
		PreVote:                   true,
		Logger:                    discardLogger(),
	}
	var boot []raft.Peer
	if st.Empty() {
		boot = cfg.Bootstrap
	}
	if n.rn, err = newCore(rc, boot); err != nil {
		return nil, fmt.Errorf("repl: starting raft: %w", err)
	}
	go n.run()
	return n, nil
}

// Step hands a message received from a peer to Raft, on the caller's
// goroutine (Raft's step is brief and takes no I/O). Errors are for
// messages Raft refuses (of removed nodes and the like) or drops (a
// forwarded proposal while no leader is known: its proposer proposes
// again).
func (n *Node) Step(m *raftpb.Message) {
	if m.GetType() != raftpb.MsgProp {
		n.stepChecks(m)
	}
	_ = n.rn.step(m)
}

// Tick advances the node's Raft clock by one tick, for a node started
// with Config.ExternalTick. Safe from any goroutine; it waits only for
// the Raft mutex (held for one step at a time) and does nothing once
// stopped.
func (n *Node) Tick() { n.rn.tick() }

// Applied returns the index of the last entry applied (or restored from
// a snapshot), empty entries included.
func (n *Node) Applied() uint64 { return n.appliedIndex.Load() }

// TransferLeadership asks this node, when it leads, to hand the
// leadership to the node with id to (the new leader starts its view of
// every follower afresh).
func (n *Node) TransferLeadership(to uint64) {
	n.rn.transferLeader(to)
}

// Campaign makes this node start an election now (a new group's first
// peer does, rather than wait an election timeout).
func (n *Node) Campaign() {
	_ = n.rn.campaign()
}

// Leader returns the current leader's id, 0 when none is known.
func (n *Node) Leader() uint64 { return n.leader.Load() }

// Err returns the storage error that stopped the node, if any.
func (n *Node) Err() error {
	if p := n.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// Stop stops the goroutine and waits for it. Waiting proposers get
// ErrClosed. Stop is idempotent.
func (n *Node) Stop() {
	select {
	case <-n.stop:
	default:
		close(n.stop)
	}
	<-n.done
}

// ProposeConfChange proposes a configuration change; it returns once
// the local Raft accepted it (not when it commits).
func (n *Node) ProposeConfChange(ctx context.Context, cc *raftpb.ConfChange) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return n.rn.proposeConfChange(cc)
}

// Propose proposes data and waits until this node applied it, returning
// FSM.Apply's result. Without a leader it tries again each tick; a
// proposal not applied after an election timeout, or when the leader
// changed, is made again (the dedup table applies it once). It returns
// ErrUnavailable (wrapping the context's error) when ctx ends first; the
// entry may still commit later.
func (n *Node) Propose(ctx context.Context, data []byte) (any, error) {
	id := n.seq.Add(1)
	buf := make([]byte, 16, 16+len(data))
	binary.BigEndian.PutUint64(buf, n.proposer)
	binary.BigEndian.PutUint64(buf[8:], id)
	buf = append(buf, data...)
	ch := make(chan any, 1)
	n.wmu.Lock()
	n.waiters[id] = ch
	n.wmu.Unlock()
	defer func() {
		n.wmu.Lock()
		delete(n.waiters, id)
		n.wmu.Unlock()
	}()
	if n.cfg.LeaderOnly {
		return n.proposeAsLeader(ctx, buf, ch)
	}
	tick := time.NewTicker(n.cfg.Tick)
	defer tick.Stop()
	retry := time.Duration(n.cfg.ElectionTicks) * n.cfg.Tick
	var proposedAt time.Time
	var proposedTo uint64 // the leader when last proposed
	for {
		leader := n.leader.Load()
		if leader != 0 && (proposedAt.IsZero() || leader != proposedTo || time.Since(proposedAt) >= retry) {
			// Raft drops a proposal while it knows no leader: look
			// again next tick.
			err := n.rn.propose(buf)
			switch {
			case err == nil:
				proposedAt, proposedTo = time.Now(), leader
			case errors.Is(err, raft.ErrProposalDropped):
				// no leader after all, or a leader transfer: next tick
			default:
				return nil, n.proposeErr(ctx, err)
			}
		}
		select {
		case r := <-ch:
			return r, nil
		case <-tick.C:
		case <-ctx.Done():
			return nil, n.proposeErr(ctx, ctx.Err())
		case <-n.done:
			return nil, ErrClosed
		}
	}
}

func (n *Node) proposeErr(ctx context.Context, err error) error {
	select {
	case <-n.done:
		return ErrClosed
	default:
	}
	if errors.Is(err, raft.ErrStopped) {
		return ErrClosed
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

func (n *Node) run() {
	defer close(n.done)
	defer n.rn.stop()
	var tickC <-chan time.Time // nil with ExternalTick: Tick is called
	if !n.cfg.ExternalTick {
		ticker := time.NewTicker(n.cfg.Tick)
		defer ticker.Stop()
		tickC = ticker.C
	}
	for {
		select {
		case <-tickC:
			n.rn.tick()
		case <-n.rn.wake:
		case <-n.stop:
			return
		}
		for {
			rd, ok := n.rn.ready()
			if !ok {
				break
			}
			if err := n.handleReady(rd); err != nil {
				n.cfg.Logf("repl: group %d: node %x stops: %v", n.cfg.Group, n.cfg.ID, err)
				n.leader.Store(0)
				n.failed.Store(&err)
				return
			}
			select {
			case <-n.stop:
				return
			default:
			}
		}
	}
}

// stepChecks notes the sender's last contact, detects a follower that
// lost its log, and clamps a heartbeat's commit (clampCommit), before m
// goes to Raft.
func (n *Node) stepChecks(m *raftpb.Message) {
	if from := m.GetFrom(); from != 0 {
		n.seen.Store(from, time.Now())
	}
	if m.GetType() == raftpb.MsgAppResp && m.GetReject() && n.cfg.OnLostFollower != nil && n.leader.Load() == n.cfg.ID {
		if pr, ok := n.rn.status().Progress[m.GetFrom()]; ok && m.GetRejectHint() < pr.Match {
			n.cfg.OnLostFollower(m.GetFrom())
		}
	}
	if m.GetType() == raftpb.MsgHeartbeat {
		n.clampCommit(m)
	}
}

// clampCommit keeps a heartbeat's commit index within this node's log.
// The leader sends the lesser of what it committed and what it believes
// this node holds, so a larger one means this node lost entries it had
// acknowledged (a wiped store directory, a memory-only node restarted
// under its old id); Raft would panic on it ("tocommit(…) is out of
// range") and take the process down. The leader keeps believing it
// (its progress for this node is not reset) until the next election.
func (n *Node) clampCommit(m *raftpb.Message) {
	last, err := n.storage.LastIndex()
	if err != nil || m.GetCommit() <= last {
		return
	}
	if !n.lost.Swap(true) {
		n.cfg.Logf("repl: group %d: node %x: the leader %x counts entries up to %d as held here, the log ends at %d: "+
			"this node lost its log and restarted under its old id; it catches up only after the next election",
			n.cfg.Group, n.cfg.ID, m.GetFrom(), m.GetCommit(), last)
	}
	m.Commit = &last
}

func (n *Node) handleReady(rd raft.Ready) error {
	if rd.SoftState != nil {
		old := n.leader.Swap(rd.SoftState.Lead)
		if old != rd.SoftState.Lead && n.cfg.OnLeader != nil {
			n.cfg.OnLeader(rd.SoftState.Lead, rd.SoftState.Lead == n.cfg.ID)
		}
	}
	// A leader may send its messages while it writes the entries of the
	// same Ready (the raft README; its own entries count once written,
	// and a follower's acknowledgement only after the follower wrote
	// them): the write is then off the commit path. Not when the term
	// or vote changes, which must be durable before any message.
	early := n.leader.Load() == n.cfg.ID && raft.IsEmptySnap(rd.Snapshot) && !n.voteChanges(rd.HardState)
	if early {
		n.send(rd.Messages)
	}
	if err := n.cfg.Log.Save(rd.HardState, rd.Entries, rd.Snapshot, rd.MustSync); err != nil {
		return err
	}
	if !raft.IsEmptyHardState(rd.HardState) {
		n.term, n.vote = rd.HardState.GetTerm(), rd.HardState.GetVote()
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := n.storage.ApplySnapshot(rd.Snapshot); err != nil && !errors.Is(err, raft.ErrSnapOutOfDate) {
			return err
		}
		if err := n.restore(rd.Snapshot.GetData()); err != nil {
			return fmt.Errorf("restoring snapshot: %w", err)
		}
		n.confState = rd.Snapshot.GetMetadata().GetConfState()
		n.applied = rd.Snapshot.GetMetadata().GetIndex()
		n.snapshotted = n.applied
	}
	if !raft.IsEmptyHardState(rd.HardState) {
		if err := n.storage.SetHardState(rd.HardState); err != nil {
			return err
		}
	}
	if err := n.storage.Append(rd.Entries); err != nil {
		return err
	}
	if !early {
		n.send(rd.Messages)
	}
	if err := n.apply(rd.CommittedEntries); err != nil {
		return err
	}
	n.noteApplied()
	n.resolveReads(rd.ReadStates)
	if len(rd.CommittedEntries) > 0 || !raft.IsEmptySnap(rd.Snapshot) {
		if n.cfg.OnApplied != nil {
			n.cfg.OnApplied()
		}
	}
	if err := n.maybeSnapshot(); err != nil {
		return err
	}
	n.rn.advance(rd)
	return nil
}

// voteChanges reports whether hs changes the term or vote last saved.
func (n *Node) voteChanges(hs *raftpb.HardState) bool {
	return hs != nil && !raft.IsEmptyHardState(hs) && (hs.GetTerm() != n.term || hs.GetVote() != n.vote)
}

// send hands a Ready's messages to the transport.
func (n *Node) send(msgs []*raftpb.Message) {
	msgs = coalesce(msgs, maxMsgBytes)
	for _, m := range msgs {
		ok := n.cfg.Send(m)
		if !ok {
			n.rn.reportUnreachable(m.GetTo())
		}
		if m.GetType() == raftpb.MsgSnap {
			status := raft.SnapshotFinish
			if !ok {
				status = raft.SnapshotFailure
			}
			n.rn.reportSnapshot(m.GetTo(), status)
		}
	}
}

func (n *Node) apply(ents []*raftpb.Entry) error {
	for _, e := range ents {
		if e.GetIndex() <= n.applied {
			continue
		}
		n.sinceBytes += uint64(len(e.GetData()))
		switch e.GetType() {
		case raftpb.EntryNormal:
			n.applyNormal(e)
		case raftpb.EntryConfChange:
			cc := new(raftpb.ConfChange)
			if err := proto.Unmarshal(e.GetData(), cc); err != nil {
				return fmt.Errorf("%w: conf change at %d: %v", ErrCorrupt, e.GetIndex(), err)
			}
			n.confState = n.rn.applyConfChange(cc)
			n.cfg.FSM.ApplyConfChange(e.GetIndex(), cc, n.confState)
			// A member added later is sent the latest snapshot when the
			// log it needs was compacted, and Raft refuses a snapshot
			// whose configuration lacks the member: take one now.
			n.confChanged = true
		default:
			return fmt.Errorf("%w: entry type %v at %d", ErrCorrupt, e.GetType(), e.GetIndex())
		}
		n.applied = e.GetIndex()
	}
	return nil
}

func (n *Node) applyNormal(e *raftpb.Entry) {
	data := e.GetData()
	if len(data) == 0 {
		return // a new leader's empty entry
	}
	if len(data) < 16 {
		n.cfg.Logf("repl: group %d: entry %d of %d bytes ignored", n.cfg.Group, e.GetIndex(), len(data))
		return
	}
	proposer, id := binary.BigEndian.Uint64(data), binary.BigEndian.Uint64(data[8:])
	if !n.dedup.apply(proposer, id, e.GetIndex()) {
		return // a proposal made again, applied already
	}
	r := n.cfg.FSM.Apply(e.GetIndex(), data[16:])
	if proposer != n.proposer || n.asyncApplied(id, r) {
		return
	}
	n.wmu.Lock()
	ch := n.waiters[id]
	delete(n.waiters, id)
	n.wmu.Unlock()
	if ch != nil {
		ch <- r
	}
}

// restore replaces the dedup table and the FSM's state with a
// snapshot's.
func (n *Node) restore(data []byte) error {
	d, fsmData, err := unwrapSnapshot(data)
	if err != nil {
		return err
	}
	if err := n.cfg.FSM.Restore(fsmData); err != nil {
		return err
	}
	n.dedup = d
	return nil
}

func (n *Node) maybeSnapshot() error {
	if n.applied-n.snapshotted < n.cfg.SnapshotEvery && n.sinceBytes < n.cfg.SnapshotBytes && !n.confChanged {
		return nil
	}
	n.confChanged = false
	fsmData, err := n.cfg.FSM.Snapshot()
	if err != nil {
		return fmt.Errorf("taking snapshot: %w", err)
	}
	data, err := n.dedup.wrap(fsmData)
	if err != nil {
		return fmt.Errorf("taking snapshot: %w", err)
	}
	snap, err := n.storage.CreateSnapshot(n.applied, n.confState, data)
	if err != nil {
		return fmt.Errorf("taking snapshot: %w", err)
	}
	if err := n.cfg.Log.Compact(snap); err != nil {
		return err
	}
	// Keep a tail of entries in memory, so that a follower a little
	// behind gets entries rather than the whole snapshot (the durable
	// log keeps only what follows the snapshot).
	keepFrom, err := n.tailStart()
	if err != nil {
		return err
	}
	if keepFrom > 1 {
		if err := n.storage.Compact(keepFrom - 1); err != nil && !errors.Is(err, raft.ErrCompacted) {
			return err
		}
	}
	n.snapshotted, n.sinceBytes = n.applied, 0
	return nil
}

// tailStart returns the first index of the entries to keep in memory
// after a snapshot at n.applied: the last SnapshotEvery entries at
// most, holding SnapshotBytes of data at most.
func (n *Node) tailStart() (uint64, error) {
	from := uint64(1)
	if n.applied > n.cfg.SnapshotEvery {
		from = n.applied - n.cfg.SnapshotEvery + 1
	}
	first, err := n.storage.FirstIndex()
	if err != nil {
		return 0, err
	}
	from = max(from, first)
	if from > n.applied {
		return from, nil
	}
	ents, err := n.storage.Entries(from, n.applied+1, math.MaxUint64)
	if err != nil {
		if errors.Is(err, raft.ErrCompacted) {
			return from, nil
		}
		return 0, err
	}
	var size uint64
	for i := len(ents) - 1; i >= 0; i-- {
		size += uint64(len(ents[i].GetData()))
		if size > n.cfg.SnapshotBytes {
			return ents[i].GetIndex() + 1, nil
		}
	}
	return from, nil
}

// discardLogger silences the raft package (it logs every election at
// info level); Cairn logs what matters itself.
func discardLogger() raft.Logger {
	return &raft.DefaultLogger{Logger: log.New(io.Discard, "", 0)}
}

// PeerStatus is what a leader knows of one member's replication.
type PeerStatus struct {
	ID uint64
	// Match is the highest log index known to be in the member's log.
	Match uint64
	// Active: Raft heard from the member within an election timeout.
	Active bool
	// Seen is when this node last received a message from the member
	// (zero if never since it started).
	Seen time.Time
}

// Status is a node's view of its group.
type Status struct {
	Leader  uint64
	Term    uint64
	Commit  uint64
	Applied uint64
	// LastIndex is the index of the last entry in this node's log.
	LastIndex uint64
	// Peers holds, on the leader only, every member but the leader.
	Peers []PeerStatus
	// Voters are the ids of the group's voting members, as this node
	// applied its configuration, sorted.
	Voters []uint64
}

// Status returns the node's view of its group; Peers only on the
// leader.
func (n *Node) Status() Status {
	st := n.rn.status()
	out := Status{Leader: st.Lead, Term: st.GetTerm(), Commit: st.GetCommit(), Applied: n.appliedIndex.Load()}
	if last, err := n.storage.LastIndex(); err == nil {
		out.LastIndex = last
	}
	for id, pr := range st.Progress {
		if id == n.cfg.ID {
			continue
		}
		ps := PeerStatus{ID: id, Match: pr.Match, Active: pr.RecentActive}
		if t, ok := n.seen.Load(id); ok {
			ps.Seen = t.(time.Time)
		}
		out.Peers = append(out.Peers, ps)
	}
	slices.SortFunc(out.Peers, func(a, b PeerStatus) int { return cmp.Compare(a.ID, b.ID) })
	for id := range st.Config.Voters.IDs() {
		out.Voters = append(out.Voters, id)
	}
	slices.Sort(out.Voters)
	return out
}

// initialState saves and returns the state of a group started from
// Config.Initial.
func initialState(cfg Config) (LogState, error) {
	data, err := newDedup().wrap(cfg.InitialData)
	if err != nil {
		return LogState{}, err
	}
	one := uint64(1)
	snap := &raftpb.Snapshot{Data: data, Metadata: &raftpb.SnapshotMetadata{
		Index: &one, Term: &one, ConfState: &raftpb.ConfState{Voters: slices.Clone(cfg.Initial)}}}
	hs := &raftpb.HardState{Term: &one, Commit: &one}
	if err := cfg.Log.Save(hs, nil, snap, true); err != nil {
		return LogState{}, err
	}
	return LogState{HardState: hs, Snapshot: snap}, nil
}
