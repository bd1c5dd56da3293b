package replica

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// PeerInfo is one replica other than the leader, as nats-server's
// stream info "cluster.replicas" shows it.
type PeerInfo struct {
	Name    string
	Current bool          // its log holds everything the leader has
	Active  time.Duration // since the leader last heard from it
	Lag     uint64        // entries it is behind
	Offline bool          // not heard from within an election timeout
}

// Info is the group's state as this replica knows it.
type Info struct {
	Leader   string // "" when none is known
	Replicas []PeerInfo
}

// Info returns the group's state; the replicas' progress is known on
// the leader only (elsewhere Replicas lists the other members, without
// progress).
func (s *Stream) Info() Info {
	st := s.nd().Status()
	out := Info{Leader: s.peerName(st.Leader)}
	if st.Leader != s.opts.Self {
		for id, name := range s.peerMap() {
			if id != st.Leader {
				out.Replicas = append(out.Replicas, PeerInfo{Name: name})
			}
		}
		sortPeers(out.Replicas)
		return out
	}
	now := time.Now()
	for _, p := range st.Peers {
		pi := PeerInfo{Name: s.peerName(p.ID), Offline: !p.Active}
		if p.Match < st.LastIndex {
			pi.Lag = st.LastIndex - p.Match
		}
		pi.Current = pi.Lag == 0 && p.Active
		if !p.Seen.IsZero() {
			pi.Active = now.Sub(p.Seen)
		}
		out.Replicas = append(out.Replicas, pi)
	}
	sortPeers(out.Replicas)
	return out
}

func sortPeers(ps []PeerInfo) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].Name < ps[j-1].Name; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

// StepDown hands the leadership to the most up-to-date active replica.
// ErrNotLeader when this replica does not lead; an error when no other
// replica is current.
func (s *Stream) StepDown() error { return s.stepDownExcept(0) }

// handOver hands the leadership to a replica other than lost, a
// follower that lost its log: the new leader starts its view of every
// follower afresh, finds lost's real position and sends it the entries
// or the snapshot it needs (Raft's leader keeps believing the old
// position, repl.Config.OnLostFollower). It runs on the goroutine that
// steps the follower's message (a route's reader): the transfer is
// asked for on a goroutine of its own, without waiting.
func (s *Stream) handOver(lost uint64) {
	s.handOff.Do(func() {
		go func() {
			defer s.handOff.Reset()
			s.logf("replica: stream %s: replica %s lost its log; handing the leadership over so that it catches up", s.raw().Name(), s.peerName(lost))
			if err := s.stepDownExcept(lost); err != nil {
				s.logf("replica: stream %s: %v", s.raw().Name(), err)
			}
			time.Sleep(time.Second) // one hand-over at a time
		}()
	})
}

func (s *Stream) stepDownExcept(except uint64) error {
	st := s.nd().Status()
	if st.Leader != s.opts.Self {
		return ErrNotLeader
	}
	// A random one of the most up-to-date active replicas, as
	// nats-server picks a random current peer.
	var best []uint64
	var bestMatch uint64
	for _, p := range st.Peers {
		if p.ID == except || !p.Active {
			continue
		}
		switch {
		case len(best) == 0 || p.Match > bestMatch:
			best, bestMatch = []uint64{p.ID}, p.Match
		case p.Match == bestMatch:
			best = append(best, p.ID)
		}
	}
	if len(best) == 0 {
		return fmt.Errorf("replica: stream %s: no replica to step down to", s.raw().Name())
	}
	s.nd().TransferLeadership(best[rand.IntN(len(best))])
	return nil
}
