package meta

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// Assignment places one stream of one account on one node (R1) or, with
// more than one peer, on the R nodes of its own Raft group.
type Assignment struct {
	Account string `json:"account"`
	Stream  string `json:"stream"`
	// Node is the server name of the node holding an R1 stream; for a
	// replicated one, its first peer (the preferred first leader).
	Node    string          `json:"node"`
	Config  json.RawMessage `json:"config"` // the stream's definition, as jsapi stores it
	Created time.Time       `json:"created"`
	// Revision is the Raft index of the entry that created the
	// assignment or last changed its Config or Peers (set by the group).
	Revision uint64 `json:"revision"`
	// Peers are the members of a replicated stream's group (nil for
	// R1). The group numbers them 1..R at placement and gives a peer
	// added later an id never used in this group (PeerSeq).
	Peers []Peer `json:"peers,omitempty"`
	// Group is the id of a replicated stream's Raft group: the index of
	// the entry that made it replicated, the same on every node and
	// never 0 (the metadata group's). 0 for R1.
	Group uint64 `json:"group,omitempty"`
	// PeerSeq is the highest peer id ever given in Group.
	PeerSeq uint64 `json:"peer_seq,omitempty"`
	// Boot are the ids Group started with: a peer among them starts
	// its member with exactly these as the first configuration (every
	// one of them alike, even after losing its log); a peer added later
	// starts empty and is added by the group's leader. A new stream's
	// group boots with all its peers; a stream made replicated from R1
	// boots with the node that held it, which then adds the others.
	Boot []uint64 `json:"boot,omitempty"`
}

// Peer is one member of a replicated stream's group.
type Peer struct {
	ID   uint64 `json:"id"`   // Raft id within the stream's group
	Name string `json:"name"` // server name
}

// Replicated reports whether a has a group of more than one peer.
func (a Assignment) Replicated() bool { return len(a.Peers) > 1 }

// Nodes returns the server names a's stream lives on: its peers, or
// Node for R1.
func (a Assignment) Nodes() []string {
	if len(a.Peers) == 0 {
		return []string{a.Node}
	}
	out := make([]string, len(a.Peers))
	for i, p := range a.Peers {
		out[i] = p.Name
	}
	return out
}

// heldBy reports whether node is a's Node or one of its peers.
func (a Assignment) heldBy(node string) bool {
	return a.Node == node || slices.ContainsFunc(a.Peers, func(p Peer) bool { return p.Name == node })
}

// op is one log entry's command (JSON).
type op struct {
	Op         string     `json:"op"` // "assign", "unassign", "config", "peers"
	Assignment Assignment `json:"a"`
	// Expect is the Revision a "peers" op requires (compare-and-swap).
	Expect uint64 `json:"expect,omitempty"`
}

// result is what applying an op tells its proposer.
type result struct {
	a   Assignment
	err error
}

// fsm is the replicated state: the members' names and the assignments.
// Apply runs on the Raft node's goroutine; readers take mu shared.
type fsm struct {
	mu      sync.RWMutex
	members map[uint64]string                // Raft id → server name
	streams map[string]map[string]Assignment // account → stream → assignment
	changed bool                             // assignments changed since takeChanged
}

func newFSM() *fsm {
	return &fsm{members: map[uint64]string{}, streams: map[string]map[string]Assignment{}}
}

// snapshotData is the JSON of a snapshot.
type snapshotData struct {
	Members     map[uint64]string `json:"members"`
	Assignments []Assignment      `json:"assignments"`
}

func (f *fsm) Apply(index uint64, data []byte) any {
	var o op
	if err := json.Unmarshal(data, &o); err != nil {
		return result{err: fmt.Errorf("meta: entry %d does not decode: %v", index, err)}
	}
	a := o.Assignment
	f.mu.Lock()
	defer f.mu.Unlock()
	cur, ok := f.streams[a.Account][a.Stream]
	switch o.Op {
	case "assign":
		if ok {
			return result{a: cur} // the first committed assignment wins
		}
		a.Revision = index
		a.Group, a.PeerSeq, a.Boot = 0, 0, nil
		if len(a.Peers) > 1 {
			// Numbered here, so every node agrees whatever the proposer
			// sent; Node is the first peer.
			a.Peers = slices.Clone(a.Peers)
			for i := range a.Peers {
				a.Peers[i].ID = uint64(i + 1)
			}
			a.Node, a.Group, a.PeerSeq = a.Peers[0].Name, index, uint64(len(a.Peers))
			for _, p := range a.Peers {
				a.Boot = append(a.Boot, p.ID)
			}
		} else {
			a.Peers = nil
		}
		if f.streams[a.Account] == nil {
			f.streams[a.Account] = map[string]Assignment{}
		}
		f.streams[a.Account][a.Stream] = a
		f.changed = true
		return result{a: a}
	case "unassign":
		if !ok || !cur.heldBy(a.Node) {
			return result{err: ErrNotAssigned}
		}
		delete(f.streams[a.Account], a.Stream)
		if len(f.streams[a.Account]) == 0 {
			delete(f.streams, a.Account)
		}
		f.changed = true
		return result{a: cur}
	case "config":
		if !ok || !cur.heldBy(a.Node) {
			return result{err: ErrNotAssigned}
		}
		cur.Config = a.Config
		cur.Revision = index
		f.streams[a.Account][a.Stream] = cur
		f.changed = true
		return result{a: cur}
	case "peers":
		if !ok {
			return result{err: ErrNotAssigned}
		}
		next, err := setPeers(cur, a.Peers, o.Expect, index)
		if err != nil {
			return result{a: cur, err: err}
		}
		f.streams[a.Account][a.Stream] = next
		f.changed = true
		return result{a: next}
	}
	return result{err: fmt.Errorf("meta: entry %d: unknown operation %q", index, o.Op)}
}

func (f *fsm) ApplyConfChange(_ uint64, cc *raftpb.ConfChange, _ *raftpb.ConfState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch cc.GetType() {
	case raftpb.ConfChangeAddNode, raftpb.ConfChangeAddLearnerNode, raftpb.ConfChangeUpdateNode:
		if name := string(cc.GetContext()); name != "" {
			f.members[cc.GetNodeId()] = name
		}
	case raftpb.ConfChangeRemoveNode:
		delete(f.members, cc.GetNodeId())
	}
}

func (f *fsm) Snapshot() ([]byte, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	s := snapshotData{Members: f.members, Assignments: []Assignment{}}
	for _, m := range f.streams {
		for _, a := range m {
			s.Assignments = append(s.Assignments, a)
		}
	}
	sortAssignments(s.Assignments)
	return json.Marshal(s)
}

func (f *fsm) Restore(data []byte) error {
	var s snapshotData
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("meta: snapshot does not decode: %w", err)
	}
	members := map[uint64]string{}
	for id, name := range s.Members {
		members[id] = name
	}
	streams := map[string]map[string]Assignment{}
	for _, a := range s.Assignments {
		if streams[a.Account] == nil {
			streams[a.Account] = map[string]Assignment{}
		}
		streams[a.Account][a.Stream] = a
	}
	f.mu.Lock()
	f.members, f.streams, f.changed = members, streams, true
	f.mu.Unlock()
	return nil
}

// takeChanged reports and clears whether assignments changed.
func (f *fsm) takeChanged() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.changed
	f.changed = false
	return c
}

func (f *fsm) lookup(account, stream string) (Assignment, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	a, ok := f.streams[account][stream]
	return a, ok
}

func (f *fsm) list(account string) []Assignment {
	f.mu.RLock()
	out := make([]Assignment, 0, len(f.streams[account]))
	for _, a := range f.streams[account] {
		out = append(out, a)
	}
	f.mu.RUnlock()
	sortAssignments(out)
	return out
}

func (f *fsm) memberName(id uint64) (string, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	name, ok := f.members[id]
	return name, ok
}

func (f *fsm) memberNames() []string {
	f.mu.RLock()
	out := make([]string, 0, len(f.members))
	for _, name := range f.members {
		out = append(out, name)
	}
	f.mu.RUnlock()
	slices.Sort(out)
	return out
}

func sortAssignments(as []Assignment) {
	sort.Slice(as, func(i, j int) bool {
		if c := strings.Compare(as[i].Account, as[j].Account); c != 0 {
			return c < 0
		}
		return as[i].Stream < as[j].Stream
	})
}
