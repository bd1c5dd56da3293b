package meta

import (
	"sync"
	"sync/atomic"

	"go.etcd.io/raft/v3/raftpb"
)

// A node that joins the group starts Raft on an empty log. When it is a
// member that lost its log (a wiped store directory, a memory-only
// server restarted), the others may count on entries it acknowledged
// before, and on the vote it cast in the current term: were it to vote
// now, its empty log and a node that lacks a committed entry would make
// a majority that loses the entry (and two placements of one stream
// name could follow), or it could vote twice in one term. So a joiner
// grants no vote (nor pre-vote) until it has applied everything the
// leader's log held when the leader first sent it entries (the leader
// holds every committed entry). Without a leader that reaches it, the
// group may then have no majority to elect one: unavailable rather
// than wrong. Exception: a vote for a candidate whose log holds nothing
// beyond the bootstrap (the group's first election, whose initial
// members may join rather than bootstrap). Not covered: a member that
// lost its log while a node that saw nothing beyond the bootstrap is
// the only other one up. The state is kept in the log's metadata ("fresh"), so a
// joiner restarted before it caught up still abstains.
type catchUp struct {
	fresh  atomic.Bool   // joined, not caught up yet
	target atomic.Uint64 // the leader's last index at its first entries; 0 unknown
	logged atomic.Bool
	asked  sync.Map // candidate's Raft id → the last term in its log when it asked for a vote
}

// startJoiner records that this node joins with an empty log.
func (g *Group) startJoiner() error {
	g.catchUp.fresh.Store(true)
	return g.log.SetMeta("fresh", []byte{1})
}

// noteLeaderMsg learns, from a joiner's first entries, how far it must
// catch up.
func (g *Group) noteLeaderMsg(m *raftpb.Message) {
	c := &g.catchUp
	if !c.fresh.Load() {
		return
	}
	switch m.GetType() {
	case raftpb.MsgVote, raftpb.MsgPreVote:
		c.asked.Store(m.GetFrom(), m.GetLogTerm())
		last := m.GetIndex() + uint64(len(m.GetEntries()))
		c.target.CompareAndSwap(0, max(last, 1))
	case raftpb.MsgSnap:
		idx := m.GetSnapshot().GetMetadata().GetIndex()
		c.target.CompareAndSwap(0, max(idx, 1))
	}
}

// caughtUp reports whether a joiner applied what the leader held.
func (g *Group) caughtUp() bool {
	c := &g.catchUp
	t := c.target.Load()
	if t == 0 {
		return false
	}
	n := g.node.Load()
	return n != nil && n.Applied() >= t
}

// withholdVote reports whether m, a vote granted by a joiner that has
// not caught up, must not be sent.
func (g *Group) withholdVote(m *raftpb.Message) bool {
	c := &g.catchUp
	if !c.fresh.Load() {
		return false
	}
	switch m.GetType() {
	case raftpb.MsgVoteResp, raftpb.MsgPreVoteResp:
	default:
		return false
	}
	if m.GetReject() {
		return false
	}
	// A candidate whose log holds only the group's initial members
	// (term 1, written by the bootstrap) is electing the first leader:
	// nothing was committed that it could lack, and the initial members
	// that joined rather than bootstrapped must vote for it.
	if lt, ok := c.asked.Load(m.GetTo()); ok && lt.(uint64) <= 1 {
		return false
	}
	if g.checkCaughtUp() {
		return false
	}
	if c.logged.CompareAndSwap(false, true) {
		g.opts.Errorf("meta: %s joined with an empty log and has not caught up with a leader: it grants no vote "+
			"(a member whose log was lost could otherwise make a majority that loses committed entries)", g.opts.Name)
	}
	return true
}

// checkCaughtUp ends a joiner's abstention once it caught up, and
// reports whether it did (or never abstained). The control goroutine
// calls it every tick, so that a joiner that never had to vote does not
// keep abstaining across a restart (two such joiners left without
// their leader could otherwise elect nobody).
func (g *Group) checkCaughtUp() bool {
	c := &g.catchUp
	if !c.fresh.Load() {
		return true
	}
	if !g.caughtUp() {
		return false
	}
	if c.fresh.CompareAndSwap(true, false) {
		if err := g.log.SetMeta("fresh", []byte{0}); err != nil {
			g.opts.Errorf("meta: recording that %s caught up: %v", g.opts.Name, err)
		}
		g.opts.Logf("meta: %s caught up with the metadata group and votes again", g.opts.Name)
	}
	return true
}
