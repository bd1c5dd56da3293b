package store

import "time"

// dedupTable remembers message ids (Nats-Msg-Id) for the duplicate
// window. ids maps an id to its sequence and time; order lists the ids
// in the order they were added, which is time order, so expired ids are
// forgotten from the front. order is a queue: head is its first live
// slot, and the slots before it are reclaimed once they are the larger
// part, so lookup and add cost O(1) amortised and the memory follows the
// ids inside the window.
type dedupTable struct {
	ids   map[string]dedupEntry
	order []dedupID
	head  int
	// peak is the largest size of ids since it was last rebuilt: Go maps
	// do not shrink, so a map that held a burst is rebuilt once the
	// window holds a small part of it.
	peak int
}

type dedupEntry struct {
	seq  uint64
	time int64
}

type dedupID struct {
	id   string
	time int64
}

// dedupCompactMin is the number of consumed queue slots below which the
// queue is never copied.
const dedupCompactMin = 1024

func newDedupTable() dedupTable { return dedupTable{ids: make(map[string]dedupEntry)} }

// lookup returns the sequence stored under id if it was appended less
// than window before now; it also forgets expired ids, for good.
func (d *dedupTable) lookup(id string, now int64, window time.Duration) (uint64, bool) {
	cutoff := subSat(now, int64(window))
	d.forget(cutoff, nil)
	return d.peek(id, now, window)
}

// peek is lookup without forgetting anything: a driven stream forgets
// only in ExpireAt, in the write that deletes the persisted ids.
func (d *dedupTable) peek(id string, now int64, window time.Duration) (uint64, bool) {
	e, ok := d.ids[id]
	if !ok || e.time <= subSat(now, int64(window)) {
		return 0, false
	}
	return e.seq, true
}

// oldest returns the time of the oldest id remembered, dropping the
// queue slots of ids added again since (so that the answer does not
// depend on the table's history).
func (d *dedupTable) oldest() (int64, bool) {
	for ; d.head < len(d.order); d.head++ {
		old := d.order[d.head]
		if e, ok := d.ids[old.id]; ok && e.time == old.time {
			return old.time, true
		}
		d.order[d.head] = dedupID{}
	}
	return 0, false
}

// forget drops the ids added at or before cutoff, appending each to
// *gone when gone is not nil.
func (d *dedupTable) forget(cutoff int64, gone *[]string) {
	for d.head < len(d.order) && d.order[d.head].time <= cutoff {
		old := d.order[d.head]
		if e, ok := d.ids[old.id]; ok && e.time == old.time {
			delete(d.ids, old.id)
			if gone != nil {
				*gone = append(*gone, old.id)
			}
		}
		d.order[d.head] = dedupID{} // release the id string
		d.head++
	}
	switch {
	case d.head == len(d.order):
		d.order, d.head = d.order[:0], 0
		if cap(d.order) > 4*dedupCompactMin {
			d.order = nil // a burst is over: give its memory back
		}
	case d.head >= dedupCompactMin && d.head*2 >= len(d.order):
		live := len(d.order) - d.head
		order := make([]dedupID, live, live+live/2)
		copy(order, d.order[d.head:])
		d.order, d.head = order, 0
	default:
		return
	}
	if d.peak > dedupCompactMin && len(d.ids) < d.peak/4 {
		ids := make(map[string]dedupEntry, len(d.ids))
		for k, v := range d.ids {
			ids[k] = v
		}
		d.ids, d.peak = ids, len(ids)
	}
}

func (d *dedupTable) add(id string, seq uint64, t int64) {
	d.ids[id] = dedupEntry{seq: seq, time: t}
	d.order = append(d.order, dedupID{id: id, time: t})
	d.peak = max(d.peak, len(d.ids))
}

// len returns the number of queued ids (tests).
func (d *dedupTable) len() int { return len(d.order) - d.head }
