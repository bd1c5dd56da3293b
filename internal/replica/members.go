package replica

import (
	"context"
	"slices"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// Members: the leader makes the group's configuration match the
// members it should have (Options.Peers, SetPeers), one change at a
// time, as Raft requires: a missing member is added (it starts empty
// and gets the log or a snapshot), an extra one removed. A leader that
// should not be a member hands the leadership over first. Until the
// configuration matches, a new leader does not take writes.

// membersMatch reports whether the voters are exactly the members
// wanted.
func (s *Stream) membersMatch() bool {
	voters := s.nd().Status().Voters
	want := s.peerMap()
	if len(voters) != len(want) {
		return false
	}
	for _, id := range voters {
		if _, ok := want[id]; !ok {
			return false
		}
	}
	return true
}

// reconcileMembers makes one configuration change after another until
// the voters are the members wanted; false when it could not (no
// quorum for a change within the timeout, or no longer leading).
func (s *Stream) reconcileMembers() bool {
	for range 16 { // bounded: each pass makes one change
		if !s.leading.Load() {
			return false
		}
		st := s.nd().Status()
		want := s.peerMap()
		if _, ok := want[s.opts.Self]; !ok {
			// Removed: the next leader removes this member.
			_ = s.stepDownExcept(0)
			return false
		}
		var cc *raftpb.ConfChange
		for id, name := range want {
			if !slices.Contains(st.Voters, id) {
				typ := raftpb.ConfChangeAddNode
				cc = &raftpb.ConfChange{Type: &typ, NodeId: &id, Context: []byte(name)}
				break
			}
		}
		if cc == nil {
			for _, id := range st.Voters {
				if _, ok := want[id]; !ok {
					typ := raftpb.ConfChangeRemoveNode
					cc = &raftpb.ConfChange{Type: &typ, NodeId: &id}
					break
				}
			}
		}
		if cc == nil {
			return true
		}
		if !s.changeMembers(cc) {
			return false
		}
	}
	return false
}

// changeMembers proposes cc and waits until it is applied here.
func (s *Stream) changeMembers(cc *raftpb.ConfChange) bool {
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.Timeout)
	defer cancel()
	id := cc.GetNodeId()
	name := string(cc.GetContext())
	add := cc.GetType() == raftpb.ConfChangeAddNode
	verb := "adding"
	if !add {
		verb = "removing"
	}
	if err := s.nd().ProposeConfChange(ctx, cc); err != nil {
		s.logf("replica: stream %s: %s member %d: %v", s.raw().Name(), verb, id, err)
		return false
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if slices.Contains(s.nd().Status().Voters, id) == add {
			s.logf("replica: stream %s: %s member %d %s done", s.raw().Name(), verb, id, name)
			return true
		}
		select {
		case <-ctx.Done():
			s.logf("replica: stream %s: %s member %d: not applied in time", s.raw().Name(), verb, id)
			return false
		case <-tick.C:
		}
	}
}
