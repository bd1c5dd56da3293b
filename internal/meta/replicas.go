package meta

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/cairn-db/cairn/internal/repl"
)

var (
	// ErrRevision: SetPeers found the assignment changed since the
	// revision the caller read (compare-and-swap failed).
	ErrRevision = errors.New("meta: assignment changed since the revision given")
	// ErrNotLeader: StepDown on a node that does not lead the group.
	ErrNotLeader = errors.New("meta: this node is not the metadata leader")
	// ErrNoSuccessor: StepDown found no connected member to hand the
	// leadership to, or none took it before the context ended.
	ErrNoSuccessor = errors.New("meta: no member took over the leadership")
)

// setPeers returns cur with its peer set replaced by peers (applied by
// the "peers" op at index), or ErrRevision when cur.Revision is not
// expect. A peer already in the group keeps its id; any other gets the
// next id never used in the group (the ids peers carry are ignored).
// More than one peer makes the stream replicated (a new Group when it
// was R1); exactly one makes it R1 on that node (Group 0).
func setPeers(cur Assignment, peers []Peer, expect, index uint64) (Assignment, error) {
	if cur.Revision != expect {
		return Assignment{}, fmt.Errorf("%w: revision %d, expected %d", ErrRevision, cur.Revision, expect)
	}
	if err := checkPeerNames(peers); err != nil {
		return Assignment{}, err
	}
	next := cur
	next.Revision = index
	if len(peers) == 1 {
		next.Node, next.Peers, next.Group, next.PeerSeq, next.Boot = peers[0].Name, nil, 0, 0, nil
		return next, nil
	}
	holder := ""
	if cur.Group == 0 {
		// A new group: ids from 1, whatever the R1 stream was. It
		// boots with the node that held the R1 stream (it has the
		// data), which adds the others.
		holder = cur.Node
		cur.Peers, next.Group, next.PeerSeq, next.Boot = nil, index, 0, nil
	}
	next.Peers = make([]Peer, len(peers))
	for i, p := range peers {
		j := slices.IndexFunc(cur.Peers, func(q Peer) bool { return q.Name == p.Name })
		if j >= 0 {
			next.Peers[i] = cur.Peers[j]
			continue
		}
		next.PeerSeq++
		next.Peers[i] = Peer{ID: next.PeerSeq, Name: p.Name}
		if p.Name == holder {
			next.Boot = []uint64{next.PeerSeq}
		}
	}
	next.Node = next.Peers[0].Name
	return next, nil
}

// checkPeerNames refuses an empty peer set, an empty name and a name
// given twice.
func checkPeerNames(peers []Peer) error {
	if len(peers) == 0 {
		return errors.New("meta: a stream needs at least one peer")
	}
	seen := make(map[string]bool, len(peers))
	for _, p := range peers {
		if p.Name == "" || seen[p.Name] {
			return fmt.Errorf("meta: peer names must be distinct and not empty: %q", p.Name)
		}
		seen[p.Name] = true
	}
	return nil
}

// SetPeers replaces the peers of account's stream if its Revision is
// still expectRevision (ErrRevision otherwise, ErrNotAssigned when it
// is not assigned), and returns the assignment committed. Peers already
// in the group keep their ids, new ones get ids never used in it; one
// peer makes the stream R1 on that node. It waits until this node
// applied the entry, and returns ErrUnavailable when ctx ends first.
func (g *Group) SetPeers(ctx context.Context, account, stream string, expectRevision uint64, peers []Peer) (Assignment, error) {
	if err := checkPeerNames(peers); err != nil {
		return Assignment{}, err
	}
	return g.propose(ctx, op{Op: "peers", Expect: expectRevision,
		Assignment: Assignment{Account: account, Stream: stream, Peers: peers}})
}

// Load returns how many streams each node holds in the accounts named
// (every account when none is): a replicated stream counts for each of
// its peers.
func (g *Group) Load(accounts ...string) map[string]int {
	load := map[string]int{}
	g.fsm.mu.RLock()
	defer g.fsm.mu.RUnlock()
	count := func(m map[string]Assignment) {
		for _, a := range m {
			for _, n := range a.Nodes() {
				load[n]++
			}
		}
	}
	if len(accounts) == 0 {
		for _, m := range g.fsm.streams {
			count(m)
		}
		return load
	}
	for _, acc := range accounts {
		count(g.fsm.streams[acc])
	}
	return load
}

// StepDown hands the leadership of the group to another member
// ($JS.API.META.LEADER.STEPDOWN): a connected member, tried in random
// order, each given an election timeout to take over (Raft first
// brings the chosen member's log up to date, then has it campaign). It
// returns ErrNotLeader when this node does not lead, ErrNoSuccessor
// when no member took over before ctx ended or all were tried.
func (g *Group) StepDown(ctx context.Context) error { return g.StepDownTo(ctx, "") }

// StepDownTo is StepDown to the member named to ("": any connected
// member). A name that is not a member, or is this node, is an error.
func (g *Group) StepDownTo(ctx context.Context, to string) error {
	n := g.node.Load()
	if n == nil || n.Leader() != g.id {
		return ErrNotLeader
	}
	if to != "" {
		id := raftID(to)
		if name, ok := g.fsm.memberName(id); !ok || name != to || id == g.id {
			return fmt.Errorf("meta: %q is not another member of the metadata group", to)
		}
		return g.transferTo(ctx, n, []uint64{id})
	}
	connected := map[string]bool{}
	for _, p := range g.opts.Transport.Peers() {
		connected[p] = true
	}
	var candidates []uint64
	g.fsm.mu.RLock()
	for id, name := range g.fsm.members {
		if id != g.id && connected[name] {
			candidates = append(candidates, id)
		}
	}
	g.fsm.mu.RUnlock()
	rand.Shuffle(len(candidates), func(i, j int) { candidates[i], candidates[j] = candidates[j], candidates[i] })
	return g.transferTo(ctx, n, candidates)
}

// transferTo asks each candidate in turn to take the leadership, and
// returns once one of them (or anyone) did.
func (g *Group) transferTo(ctx context.Context, n *repl.Node, candidates []uint64) error {
	tick := time.NewTicker(g.opts.TickInterval)
	defer tick.Stop()
	for _, to := range candidates {
		n.TransferLeadership(to)
		for i := 0; i < electionTicks+heartbeatTicks; i++ {
			if l := n.Leader(); l != g.id && l != 0 {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%w: %w", ErrNoSuccessor, context.Cause(ctx))
			case <-g.stop:
				return ErrClosed
			case <-tick.C:
			}
		}
		if n.Leader() != g.id {
			return nil // lost it some other way meanwhile
		}
	}
	return ErrNoSuccessor
}
