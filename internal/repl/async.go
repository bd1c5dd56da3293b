package repl

import (
	"encoding/binary"
	"errors"
	"sort"
	"sync"
	"time"
)

// Asynchronous proposals: ProposeAsync submits a proposal and returns;
// its outcome comes to a callback. A stream's publishes use it, so that
// one connection's messages are proposed in the order they arrived and
// many are in flight at once (Propose waits for each).
//
// The rules are Propose's: a proposal not applied within an election
// timeout, or when the leader changed, is made again (the dedup table
// applies it once), except one that Raft took into this node's own log
// while it led: that one stays in the log, and commits, for as long as
// the node leads in that term, and is made again only once it does
// not (under overload, proposing every proposal in flight again each
// election timeout would fill the log with duplicates); one not
// applied by its deadline is given up
// (ErrUnavailable: it may still commit later). The retries are made by
// one goroutine per Node, started with the first asynchronous proposal,
// every Config.Tick while some are in flight, in the order the
// proposals were first made.

// asyncProposal is one proposal in flight.
type asyncProposal struct {
	id         uint64
	buf        []byte
	done       func(any, error)
	deadline   time.Time
	proposedAt time.Time
	proposedTo uint64
	heldTerm   uint64 // Raft took it into this node's log while it led in this term (0: forwarded)
	term       uint64 // Config.LeaderOnly: the term this node led in when it was made
}

// asyncState is the Node's proposals in flight.
type asyncState struct {
	mu      sync.Mutex
	byID    map[uint64]*asyncProposal
	bytes   int  // the data of those
	running bool // the retry goroutine runs
	// inOrder: every proposal in flight was proposed to leader, so a
	// new one may be proposed at once without overtaking an older one;
	// otherwise new ones wait for the retry loop, which proposes in id
	// order.
	inOrder bool
	leader  uint64
}

// ProposeAsync proposes data and returns at once; done is called once:
// with FSM.Apply's result when this node applied it (on the node's
// goroutine: done must not block), or with ErrUnavailable when it was
// not applied within timeout, or ErrClosed when the node stopped.
// Proposals submitted by one goroutine are proposed in that order.
// At most Config.MaxAsyncProposals, holding Config.MaxAsyncBytes of
// data in all, are in flight: past either, done is called at once with
// ErrBacklog and nothing is proposed (a publisher flooding a replicated
// stream gets errors rather than the leader's memory).
func (n *Node) ProposeAsync(data []byte, timeout time.Duration, done func(any, error)) {
	id := n.seq.Add(1)
	buf := make([]byte, 16, 16+len(data))
	binary.BigEndian.PutUint64(buf, n.proposer)
	binary.BigEndian.PutUint64(buf[8:], id)
	buf = append(buf, data...)
	p := &asyncProposal{id: id, buf: buf, done: done, deadline: time.Now().Add(timeout)}
	select {
	case <-n.done:
		done(nil, ErrClosed)
		return
	default:
	}
	if n.cfg.LeaderOnly {
		if p.term = n.rn.leaderTerm(); p.term == 0 {
			done(nil, ErrNotLeader)
			return
		}
	}
	n.async.mu.Lock()
	if n.async.byID == nil {
		n.async.byID = map[uint64]*asyncProposal{}
	}
	if k := len(n.async.byID); k > 0 && (k >= n.cfg.MaxAsyncProposals || n.async.bytes+len(buf) > n.cfg.MaxAsyncBytes) {
		n.async.mu.Unlock()
		done(nil, ErrBacklog)
		return
	}
	n.async.byID[id] = p
	n.async.bytes += len(buf)
	start := !n.async.running
	n.async.running = true
	leader := n.leader.Load()
	direct := leader != 0 && (len(n.async.byID) == 1 || (n.async.inOrder && n.async.leader == leader))
	n.async.mu.Unlock()
	if start {
		go n.retryAsync()
	}
	if direct {
		n.submit(p)
	}
}

// submit hands p to Raft when a leader is known (else the retry loop
// does, once one is), and reports whether Raft took it.
func (n *Node) submit(p *asyncProposal) bool {
	leader := n.leader.Load()
	if leader == 0 {
		n.outOfOrder()
		return false
	}
	var term uint64
	var err error
	if n.cfg.LeaderOnly {
		term, err = n.rn.proposeInTerm(p.buf, p.term)
		if errors.Is(err, ErrNotLeader) {
			n.giveUp(p, ErrNotLeader) // proposed nowhere
			return false
		}
	} else {
		term, err = n.rn.proposeHeld(p.buf)
	}
	n.async.mu.Lock()
	if err == nil {
		p.proposedAt, p.proposedTo, p.heldTerm = time.Now(), leader, term
		if len(n.async.byID) == 1 {
			n.async.inOrder, n.async.leader = true, leader
		}
	} else {
		n.async.inOrder = false
	}
	n.async.mu.Unlock()
	return err == nil
}

// giveUp removes p, if still in flight, and tells its caller err.
func (n *Node) giveUp(p *asyncProposal, err error) {
	n.async.mu.Lock()
	ok := n.async.take(p.id) != nil
	n.async.inOrder = false
	n.async.mu.Unlock()
	if ok {
		p.done(nil, err)
	}
}

// outOfOrder makes new proposals wait for the retry loop.
func (n *Node) outOfOrder() {
	n.async.mu.Lock()
	n.async.inOrder = false
	n.async.mu.Unlock()
}

// asyncApplied hands an applied proposal's result to its callback, and
// reports whether it was an asynchronous one.
func (n *Node) asyncApplied(id uint64, r any) bool {
	n.async.mu.Lock()
	p := n.async.take(id)
	n.async.mu.Unlock()
	if p == nil {
		return false
	}
	p.done(r, nil)
	return true
}

// retryAsync proposes again what was not applied in time, and gives up
// what passed its deadline, until nothing is in flight.
func (n *Node) retryAsync() {
	tick := time.NewTicker(n.cfg.Tick)
	defer tick.Stop()
	retry := time.Duration(n.cfg.ElectionTicks) * n.cfg.Tick
	for {
		select {
		case <-n.done:
			n.failAsync(ErrClosed)
			return
		case <-tick.C:
		}
		now := time.Now()
		leader := n.leader.Load()
		held := n.rn.leaderTerm()
		var expired, again []*asyncProposal
		n.async.mu.Lock()
		if len(n.async.byID) == 0 {
			n.async.running = false
			n.async.mu.Unlock()
			return
		}
		for id, p := range n.async.byID {
			switch {
			case now.After(p.deadline):
				n.async.take(id)
				expired = append(expired, p)
			case n.cfg.LeaderOnly && p.term != held:
				// This node no longer leads in the term the proposal
				// was made in: it is not made again (another node may
				// hold its own copy of the same publish); it may still
				// commit if it was taken.
				n.async.take(id)
				expired = append(expired, p)
			case n.cfg.LeaderOnly:
				if p.proposedAt.IsZero() {
					again = append(again, p) // not taken yet (dropped, or waiting its turn)
				}
			case leader != 0 && (p.proposedAt.IsZero() || p.proposedTo != leader || p.stale(now, retry, held)):
				again = append(again, p)
			}
		}
		n.async.mu.Unlock()
		for _, p := range expired {
			p.done(nil, ErrUnavailable)
		}
		if len(again) > 0 {
			n.outOfOrder()
		}
		sort.Slice(again, func(i, j int) bool { return again[i].id < again[j].id })
		for _, p := range again {
			// Raft drops a proposal beyond its bound on uncommitted
			// entries yet may take a smaller one right after: the
			// later ones wait for the next tick rather than overtake
			// it.
			if !n.submit(p) {
				break
			}
		}
		if leader != 0 {
			// When everything in flight went to leader (in order), new
			// proposals may go straight to it again.
			n.async.mu.Lock()
			ok := true
			for _, p := range n.async.byID {
				ok = ok && p.proposedTo == leader && !p.proposedAt.IsZero()
			}
			if ok {
				n.async.inOrder, n.async.leader = true, leader
			}
			n.async.mu.Unlock()
		}
	}
}

// stale reports whether p, proposed to the leader known now, should be
// proposed again: when it was forwarded and not applied within retry
// (the leader may have dropped it), or when Raft took it into this
// node's log while it led in a term in which it no longer leads (held:
// the term in which it leads now, 0 if it does not).
func (p *asyncProposal) stale(now time.Time, retry time.Duration, held uint64) bool {
	if p.heldTerm != 0 {
		return p.heldTerm != held
	}
	return now.Sub(p.proposedAt) >= retry
}

// failAsync gives every proposal in flight err.
func (n *Node) failAsync(err error) {
	n.async.mu.Lock()
	ps := n.async.byID
	n.async.byID, n.async.bytes = nil, 0
	n.async.running = false
	n.async.mu.Unlock()
	for _, p := range ps {
		p.done(nil, err)
	}
}

// take removes the proposal id from those in flight and returns it (nil
// if it is not). The caller holds mu.
func (a *asyncState) take(id uint64) *asyncProposal {
	p := a.byID[id]
	if p != nil {
		delete(a.byID, id)
		a.bytes -= len(p.buf)
	}
	return p
}
