package repl

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
)

// Proposals are made again when they are not applied in time (a leader
// lost them, or lost its place), so one proposal may commit twice. The
// dedup table, part of the replicated state, makes every replica apply
// it once: it remembers, per proposer, the sequence numbers applied
// recently. A proposer is one Node instance (a random 64-bit incarnation
// drawn at start, sequences from 1), so no clock is involved.
//
// Bounds, both deterministic (every replica evicts the same entries):
// dedupWindow sequences per proposer, the oldest evicted first, raising
// the proposer's floor (a sequence at or below it counts as applied: a
// proposal that late has a caller who gave up long ago); dedupProposers
// proposers, the one applied longest ago evicted first (old
// incarnations of restarted nodes).
const (
	dedupWindow    = 256
	dedupProposers = 64
)

type proposerSeen struct {
	Floor     uint64   `json:"floor"`
	Recent    []uint64 `json:"recent"` // applied order, oldest first
	LastIndex uint64   `json:"last"`   // log index of the last applied
	set       map[uint64]struct{}
}

type dedup struct {
	Proposers map[uint64]*proposerSeen `json:"proposers"`
}

func newDedup() *dedup { return &dedup{Proposers: map[uint64]*proposerSeen{}} }

// apply records (proposer, seq) applied at index and reports whether
// it was new.
func (d *dedup) apply(proposer, seq, index uint64) bool {
	p := d.Proposers[proposer]
	if p == nil {
		if len(d.Proposers) >= dedupProposers {
			d.evictProposer()
		}
		p = &proposerSeen{set: map[uint64]struct{}{}}
		d.Proposers[proposer] = p
	}
	if _, dup := p.set[seq]; dup || seq <= p.Floor {
		return false
	}
	p.set[seq] = struct{}{}
	p.Recent = append(p.Recent, seq)
	p.LastIndex = index
	if len(p.Recent) > dedupWindow {
		old := p.Recent[0]
		p.Recent = p.Recent[1:]
		delete(p.set, old)
		p.Floor = max(p.Floor, old)
	}
	return true
}

func (d *dedup) evictProposer() {
	var oldest uint64
	first := true
	var at uint64
	for id, p := range d.Proposers {
		if first || p.LastIndex < at || (p.LastIndex == at && id < oldest) {
			oldest, at, first = id, p.LastIndex, false
		}
	}
	delete(d.Proposers, oldest)
}

// snapshot data = uvarint(len(dedup JSON)) dedup JSON, FSM data.
func (d *dedup) wrap(fsmData []byte) ([]byte, error) {
	j, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	out := binary.AppendUvarint(nil, uint64(len(j)))
	out = append(out, j...)
	return append(out, fsmData...), nil
}

// unwrapSnapshot splits snapshot data into the dedup table and the
// FSM's data.
func unwrapSnapshot(data []byte) (*dedup, []byte, error) {
	if len(data) == 0 {
		return newDedup(), nil, nil
	}
	l, n := binary.Uvarint(data)
	if n <= 0 || uint64(len(data)-n) < l {
		return nil, nil, fmt.Errorf("%w: snapshot header", ErrCorrupt)
	}
	d := newDedup()
	if err := json.Unmarshal(data[n:n+int(l)], d); err != nil {
		return nil, nil, fmt.Errorf("%w: snapshot dedup table: %v", ErrCorrupt, err)
	}
	for _, p := range d.Proposers {
		if p == nil {
			return nil, nil, fmt.Errorf("%w: snapshot dedup table", ErrCorrupt)
		}
		p.set = make(map[uint64]struct{}, len(p.Recent))
		for _, s := range p.Recent {
			p.set[s] = struct{}{}
		}
	}
	return d, data[n+int(l):], nil
}
