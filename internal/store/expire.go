package store

import (
	"cmp"
	"container/heap"
	"math"
	"slices"
	"time"
)

// Expiry. One goroutine per Store (expireLoop) sleeps until the earliest
// deadline of any stream, then lets each stream remove what is due:
//
//   - MaxAge: timestamps never decrease along the sequence, so the
//     expired messages are a prefix of the log. The scan starts at
//     ageFrom (everything below is gone or exempt, TTL "never") and
//     stops at the first message that is still young: its time plus
//     MaxAge is the next deadline.
//   - Per-message TTL: a min-heap of (deadline, seq); entries of
//     messages removed otherwise are dropped lazily when they surface.
//
// When such a removal empties a subject and SubjectDeleteMarkerTTL > 0,
// the stream appends a marker in the same atomic write (ADR-43).
// Appends wake the loop early (hintDeadline) when they bring a deadline
// closer than the one it sleeps for.

// expireBatch bounds the removals made under one hold of a stream lock.
const expireBatch = 10000

type ttlItem struct {
	deadline int64
	seq      uint64
}

// ttlHeap is a min-heap by deadline.
type ttlHeap []ttlItem

func (h ttlHeap) Len() int           { return len(h) }
func (h ttlHeap) Less(i, j int) bool { return h[i].deadline < h[j].deadline }
func (h ttlHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *ttlHeap) Push(x any)        { *h = append(*h, x.(ttlItem)) }
func (h *ttlHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
func (h *ttlHeap) push(it ttlItem) { heap.Push(h, it) }
func (h *ttlHeap) pop() ttlItem    { return heap.Pop(h).(ttlItem) }

// dedupTable remembers message ids for the duplicate window. ids maps an
// id to its sequence and time; order lists them by time, so expired ids
// are dropped from the front.
type dedupTable struct {
	ids   map[string]dedupEntry
	order []dedupID
}

type dedupEntry struct {
	seq  uint64
	time int64
}

type dedupID struct {
	id   string
	time int64
}

func newDedupTable() dedupTable { return dedupTable{ids: make(map[string]dedupEntry)} }

// lookup returns the sequence stored under id if it was appended less
// than window before now; it also forgets expired ids.
func (d *dedupTable) lookup(id string, now int64, window time.Duration) (uint64, bool) {
	cutoff := now - int64(window)
	n := 0
	for n < len(d.order) && d.order[n].time <= cutoff {
		if e, ok := d.ids[d.order[n].id]; ok && e.time == d.order[n].time {
			delete(d.ids, d.order[n].id)
		}
		n++
	}
	if n > 0 {
		d.order = append(d.order[:0:0], d.order[n:]...)
	}
	e, ok := d.ids[id]
	if !ok || e.time <= cutoff {
		return 0, false
	}
	return e.seq, true
}

func (d *dedupTable) add(id string, seq uint64, t int64) {
	d.ids[id] = dedupEntry{seq: seq, time: t}
	d.order = append(d.order, dedupID{id: id, time: t})
}

// markerHeader builds the header of an age marker (ADR-43): the TTL is
// formatted as a Go duration string.
func markerHeader(ttl time.Duration) []byte {
	return []byte("NATS/1.0\r\nNats-Marker-Reason: MaxAge\r\nNats-TTL: " + ttl.String() + "\r\n\r\n")
}

// expire removes what is due at now and returns the stream's next
// deadline (Unix ns; farFuture if none).
func (s *stream) expire(now int64) int64 {
	for {
		s.mu.Lock()
		if s.usableLocked() != nil {
			s.mu.Unlock()
			return farFuture.UnixNano()
		}
		ws := s.scratchLocked()
		next, more := s.expireLocked(ws, now)
		var maxSeq uint64
		if n := len(ws.puts); n > 0 {
			maxSeq = ws.puts[n-1].msg.Seq
		}
		wait, err := s.applyLocked(ws)
		s.mu.Unlock()
		if err = waitErr(s.name, wait, err); err != nil {
			s.st.log.Error("store: expiry failed", "stream", s.name, "err", err)
			return farFuture.UnixNano()
		}
		if maxSeq > 0 {
			s.deliver(maxSeq)
		}
		if !more {
			return next
		}
	}
}

// expireLocked does one bounded pass; more reports that it stopped at
// the batch bound.
func (s *stream) expireLocked(ws *writeSet, now int64) (next int64, more bool) {
	next = farFuture.UnixNano()
	removed := 0
	// the newest removed message of each subject; placeMarkersLocked
	// keeps those of the subjects left empty
	emptied := map[string]entry{}
	remove := func(p int) {
		e, _ := s.removeAtLocked(ws, p)
		removed++
		if prev, ok := emptied[e.subj.subject]; !ok || e.seq > prev.seq {
			emptied[e.subj.subject] = e
		}
	}
	if maxAge := int64(s.cfg.MaxAge); maxAge > 0 {
		cutoff := now - maxAge
		p := s.ix.lowerBound(s.ageFrom)
		for ; p < len(s.ix.entries) && removed < expireBatch; p++ {
			e := &s.ix.entries[p]
			if e.time > cutoff {
				next = e.time + maxAge
				break
			}
			if e.subj != nil && e.flags&entryNeverExpire == 0 {
				remove(p)
			}
		}
		if p < len(s.ix.entries) {
			s.ageFrom = s.ix.entries[p].seq
		} else {
			s.ageFrom = s.lastSeq + 1
		}
		more = removed >= expireBatch
	}
	// The heap holds TTLs accepted while AllowMsgTTL was on, and the
	// store's own markers.
	{
		for len(s.ttls) > 0 && removed < expireBatch {
			top := s.ttls[0]
			if top.deadline > now {
				next = min(next, top.deadline)
				break
			}
			s.ttls.pop()
			if p := s.ix.pos(top.seq); p >= 0 {
				remove(p)
			}
		}
		more = more || removed >= expireBatch
	}
	if mttl := s.cfg.SubjectDeleteMarkerTTL; mttl > 0 && removed > 0 {
		s.placeMarkersLocked(ws, emptied, now, mttl)
		next = min(next, max(now, s.lastTime)+int64(mttl))
	}
	if len(ws.puts) > 0 || len(ws.dels) > 0 {
		s.enforceLimitsLocked(ws, "")
	}
	return next, more
}

// placeMarkersLocked appends an age marker for every subject that the
// pass left empty, unless the newest removed message of the subject was
// itself a delete marker (nats-server's rule: markers and KV purge
// markers expire silently). Markers follow the order of the sequences
// they replace.
func (s *stream) placeMarkersLocked(ws *writeSet, emptied map[string]entry, now int64, mttl time.Duration) {
	var due []entry
	for subject, e := range emptied {
		if s.ix.subjects[subject] == nil && e.flags&entryDeleteMarker == 0 {
			due = append(due, e)
		}
	}
	slices.SortFunc(due, func(a, b entry) int { return cmp.Compare(a.seq, b.seq) })
	hdr := markerHeader(mttl)
	for _, e := range due {
		m := &Msg{Subject: e.subj.subject, Header: hdr, Data: []byte{}, Seq: s.lastSeq + 1, Time: max(now, s.lastTime)}
		s.addLocked(ws, m, mttl, "", s.msgSize(m.Subject, m.Header, nil))
	}
}

// hintDeadline wakes the expiry loop if deadline (Unix ns) is earlier
// than the one it sleeps for; 0 wakes it unconditionally. While a pass
// runs, nextWake is MaxInt64, so every hint wakes the loop again.
func (st *Store) hintDeadline(deadline int64) {
	for {
		cur := st.nextWake.Load()
		if deadline >= cur {
			return
		}
		if st.nextWake.CompareAndSwap(cur, deadline) {
			break
		}
	}
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

func (st *Store) expireLoop() {
	defer st.wg.Done()
	for {
		st.nextWake.Store(math.MaxInt64)
		now := st.clock.Now().UnixNano()
		next := farFuture.UnixNano()
		for _, s := range st.Streams() {
			next = min(next, s.(*stream).expire(now))
		}
		// Publish the deadline we sleep for; a hint that arrived during
		// the pass lowered nextWake and left a token in st.wake.
		for {
			cur := st.nextWake.Load()
			if next >= cur || st.nextWake.CompareAndSwap(cur, next) {
				break
			}
		}
		ch, stop := st.clock.After(time.Duration(next - now))
		select {
		case <-ch:
		case <-st.wake:
		case <-st.quit:
			stop()
			return
		}
		stop()
	}
}
