package repl

import (
	"slices"

	"go.etcd.io/raft/v3/raftpb"
)

// Coalescing a Ready's messages before they are sent.
//
// A leader under load makes, per follower, one MsgApp for every
// proposal (raft sends each new entry at once) and one more, empty,
// each time its commit index moves; the follower answers each with a
// MsgAppResp. Measured on a 3-node cluster under 16 publishing
// clients: four MsgApps per put on the leader, half of them empty, and
// two MsgAppResps per put from each follower. Each message costs a
// marshal, a route frame, an unmarshal and a Step on the other side.
//
// coalesce merges, per peer, a message into the one sent just before
// it to the same peer when the pair says nothing more together than the
// second says alone:
//
//   - two MsgApps of one term where the second continues the first (its
//     previous index is the first's last entry) become one MsgApp with
//     the entries of both and the larger commit index, while their
//     entries stay within maxBytes. The follower's answer to it is what
//     its answer to the second would have been; the leader's in-flight
//     accounting frees both on it (acknowledgements are cumulative).
//   - two accepting MsgAppResps of one term become the later one, whose
//     index covers the earlier's (a follower only acknowledges a longer
//     log; rejections are never merged).
//
// Raft tolerates lost messages, so a message folded into another is, at
// worst, one Raft would have recovered from anyway. Nothing is merged
// across a message of another kind to the same peer, so every peer sees
// its messages in the order Raft made them.
func coalesce(msgs []*raftpb.Message, maxBytes int) []*raftpb.Message {
	if len(msgs) < 2 {
		return msgs
	}
	out := make([]*raftpb.Message, 0, len(msgs))
	// Per peer, the index in out of its last message and whether that
	// message's Entries is a slice made here; a group has a few peers,
	// so a slice searched in order beats a map on this path.
	var peers [4]lastMsg
	last := peers[:0]
	for _, m := range msgs {
		k := slices.IndexFunc(last, func(l lastMsg) bool { return l.to == m.GetTo() })
		if k >= 0 {
			l := &last[k]
			p := out[l.i]
			switch {
			case canAppend(p, m, maxBytes):
				if len(m.GetEntries()) > 0 {
					if !l.owned {
						// The entries alias Raft's own log: never append in place.
						ents := make([]*raftpb.Entry, len(p.GetEntries()), len(p.GetEntries())+len(m.GetEntries()))
						copy(ents, p.GetEntries())
						p.Entries, l.owned = ents, true
					}
					p.Entries = append(p.Entries, m.GetEntries()...)
				}
				if m.GetCommit() > p.GetCommit() {
					p.Commit = m.Commit
				}
				continue
			case canReplaceResp(p, m):
				out[l.i], l.owned = m, false
				continue
			}
			*l = lastMsg{to: m.GetTo(), i: len(out)}
		} else {
			last = append(last, lastMsg{to: m.GetTo(), i: len(out)})
		}
		out = append(out, m)
	}
	return out
}

// lastMsg is coalesce's record of the last message to one peer.
type lastMsg struct {
	to    uint64
	i     int  // index in the output
	owned bool // its Entries is a slice coalesce made
}

// canAppend: m's entries continue p's, in one term, within maxBytes.
func canAppend(p, m *raftpb.Message, maxBytes int) bool {
	if p.GetType() != raftpb.MsgApp || m.GetType() != raftpb.MsgApp || p.GetTerm() != m.GetTerm() {
		return false
	}
	if m.GetIndex() != p.GetIndex()+uint64(len(p.GetEntries())) {
		return false
	}
	if n := len(p.GetEntries()); n > 0 && p.GetEntries()[n-1].GetTerm() != m.GetLogTerm() {
		return false
	}
	return entriesSize(p)+entriesSize(m) <= maxBytes || len(m.GetEntries()) == 0
}

// canReplaceResp: m and p accept appends in one term and m covers p.
func canReplaceResp(p, m *raftpb.Message) bool {
	return p.GetType() == raftpb.MsgAppResp && m.GetType() == raftpb.MsgAppResp &&
		!p.GetReject() && !m.GetReject() && p.GetTerm() == m.GetTerm() && m.GetIndex() >= p.GetIndex()
}

func entriesSize(m *raftpb.Message) int {
	n := 0
	for _, e := range m.GetEntries() {
		n += len(e.GetData())
	}
	return n
}

// maxMsgBytes bounds the entries of one MsgApp (raft.Config.MaxSizePerMsg
// and coalesce): well below a route's output buffer (64 MiB), so
// replication never gets a route cut as slow.
const maxMsgBytes = 1 << 20
