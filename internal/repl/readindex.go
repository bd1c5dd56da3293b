package repl

import (
	"context"
	"encoding/binary"
	"time"

	"go.etcd.io/raft/v3"
)

// Reads that must see every acknowledged write use Raft's read index
// (raft §6.4): the leader records its commit index, confirms with a
// heartbeat round that a quorum still follows it, and the reader waits
// until its own node has applied up to that index. A leader cut off or
// paused cannot confirm, so it never answers from stale state.

// readState tracks the read index requests of one Node.
type readState struct {
	byCtx   map[uint64]chan uint64 // request id → its index, once known
	waiters []appliedWaiter        // readers waiting for an index to be applied
}

type appliedWaiter struct {
	index uint64
	ch    chan struct{}
}

// ReadIndex returns once this node has applied every entry that was
// committed when it was called, so that a read of the state machine
// after it sees every write acknowledged before the call. Without a
// leader it asks again each tick. It returns ErrUnavailable (wrapping
// the context's error) when ctx ends first, and ErrClosed when the node
// stops.
func (n *Node) ReadIndex(ctx context.Context) error {
	id := n.seq.Add(1)
	var rctx [16]byte
	binary.BigEndian.PutUint64(rctx[:], n.proposer)
	binary.BigEndian.PutUint64(rctx[8:], id)
	got := make(chan uint64, 1)
	n.rmu.Lock()
	n.reads.byCtx[id] = got
	n.rmu.Unlock()
	defer func() {
		n.rmu.Lock()
		delete(n.reads.byCtx, id)
		n.rmu.Unlock()
	}()
	tick := time.NewTicker(n.cfg.Tick)
	defer tick.Stop()
	var index uint64
	for asked := false; ; {
		if !asked && n.leader.Load() != 0 {
			// Raft drops a read index request while it knows no
			// leader (or the leader has not committed in its term):
			// ask again each tick until an answer comes.
			if err := n.rn.readIndex(rctx[:]); err != nil {
				return n.proposeErr(ctx, err)
			}
			asked = true
		}
		select {
		case index = <-got:
		case <-tick.C:
			asked = false
			continue
		case <-ctx.Done():
			return n.proposeErr(ctx, ctx.Err())
		case <-n.done:
			return ErrClosed
		}
		break
	}
	return n.waitApplied(ctx, index)
}

// waitApplied returns once the node applied index.
func (n *Node) waitApplied(ctx context.Context, index uint64) error {
	n.rmu.Lock()
	if n.appliedIndex.Load() >= index {
		n.rmu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	n.reads.waiters = append(n.reads.waiters, appliedWaiter{index: index, ch: ch})
	n.rmu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return n.proposeErr(ctx, ctx.Err())
	case <-n.done:
		return ErrClosed
	}
}

// resolveReads hands each answered read index to its requester; on the
// Node's goroutine.
func (n *Node) resolveReads(states []raft.ReadState) {
	if len(states) == 0 {
		return
	}
	n.rmu.Lock()
	defer n.rmu.Unlock()
	for _, rs := range states {
		if len(rs.RequestCtx) != 16 || binary.BigEndian.Uint64(rs.RequestCtx) != n.proposer {
			continue
		}
		if ch := n.reads.byCtx[binary.BigEndian.Uint64(rs.RequestCtx[8:])]; ch != nil {
			select {
			case ch <- rs.Index:
			default:
			}
		}
	}
}

// noteApplied publishes the applied index and releases the readers it
// satisfies; on the Node's goroutine.
func (n *Node) noteApplied() {
	n.appliedIndex.Store(n.applied)
	n.rmu.Lock()
	defer n.rmu.Unlock()
	kept := n.reads.waiters[:0]
	for _, w := range n.reads.waiters {
		if w.index <= n.applied {
			close(w.ch)
			continue
		}
		kept = append(kept, w)
	}
	clear(n.reads.waiters[len(kept):])
	n.reads.waiters = kept
}
