package store

import (
	"container/heap"
	"math"
	"time"
)

// Deadlines are Unix nanoseconds computed from client input (MaxAge,
// Nats-TTL, SubjectDeleteMarkerTTL, the duplicate window), so every sum
// saturates: a deadline too far away to represent is never, not a time
// in 1677 that would expire everything, nor one that puts the expirer to
// sleep for every stream.

// never is the deadline of something that does not expire.
const never int64 = math.MaxInt64

// addSat returns t+d clamped to [MinInt64, never].
func addSat(t, d int64) int64 {
	s := t + d
	switch {
	case d > 0 && s < t:
		return never
	case d < 0 && s > t:
		return math.MinInt64
	}
	return s
}

// subSat returns t-d clamped to [MinInt64, never].
func subSat(t, d int64) int64 {
	if d == math.MinInt64 {
		return addSat(addSat(t, math.MaxInt64), 1)
	}
	return addSat(t, -d)
}

// deadline returns the time (Unix ns) at which something stored at t
// with lifetime d expires, or never.
func deadline(t int64, d time.Duration) int64 { return addSat(t, int64(d)) }

type ttlItem struct {
	deadline int64
	seq      uint64
}

// ttlHeap is a min-heap by deadline of the messages with a per-message
// TTL. An item whose message is removed some other way (overwritten by
// the per-subject limit, deleted, purged, aged out) stays in the heap
// until it surfaces or a compaction drops it: dead counts those items,
// and compactTTLsLocked rebuilds the heap from the live ones once they
// are the smaller part, so the heap follows the live TTL'd messages, not
// the number of writes.
type ttlHeap struct {
	items []ttlItem
	dead  int
}

// ttlItems adapts the item slice to container/heap.
type ttlItems []ttlItem

func (h ttlItems) Len() int           { return len(h) }
func (h ttlItems) Less(i, j int) bool { return h[i].deadline < h[j].deadline }
func (h ttlItems) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *ttlItems) Push(x any)        { *h = append(*h, x.(ttlItem)) }
func (h *ttlItems) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (h *ttlHeap) len() int { return len(h.items) }

func (h *ttlHeap) top() ttlItem { return h.items[0] }

func (h *ttlHeap) push(it ttlItem) { heap.Push((*ttlItems)(&h.items), it) }

func (h *ttlHeap) pop() ttlItem { return heap.Pop((*ttlItems)(&h.items)).(ttlItem) }

// ttlCompactMin is the heap size below which dead items are left to
// surface on their own.
const ttlCompactMin = 256

// trackTTLLocked registers the per-message TTL of the message just added
// to the index (the last entry) with timestamp t. A TTL whose deadline
// cannot be represented is never and needs no heap item.
func (s *stream) trackTTLLocked(seq uint64, t int64, ttl time.Duration) {
	d := deadline(t, ttl)
	if ttl <= 0 || d == never {
		return
	}
	if n := len(s.ix.entries); n > 0 && s.ix.entries[n-1].seq == seq {
		s.ix.entries[n-1].flags |= entryTTL
	}
	s.ttls.push(ttlItem{deadline: d, seq: seq})
	if !s.driven {
		s.st.hintDeadline(d)
	}
}

// compactTTLsLocked drops the items of removed messages once they
// outnumber the live ones.
func (s *stream) compactTTLsLocked() {
	h := &s.ttls
	if len(h.items) < ttlCompactMin || h.dead*2 <= len(h.items) {
		return
	}
	live := make([]ttlItem, 0, len(h.items)-h.dead+len(h.items)/8)
	for _, it := range h.items {
		if s.ix.pos(it.seq) >= 0 {
			live = append(live, it)
		}
	}
	h.items, h.dead = live, 0
	heap.Init((*ttlItems)(&h.items))
}
