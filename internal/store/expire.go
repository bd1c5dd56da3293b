package store

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// Expiry. One goroutine per Store (expireLoop) sleeps until the earliest
// deadline of any stream but the driven ones (driven.go: their passes
// are ExpireAt calls), then lets each stream remove what is due:
//
//   - MaxAge: timestamps never decrease along the sequence, so the
//     expired messages are a prefix of the log. The scan starts at
//     ageFrom (everything below is gone or exempt, TTL "never") and
//     stops at the first message that is still young: its time plus
//     MaxAge is the next deadline.
//   - Per-message TTL: a min-heap of (deadline, seq) (ttl.go); items of
//     messages removed otherwise are dropped when they surface or when
//     they outnumber the live ones.
//
// Every deadline saturates (ttl.go): a MaxAge or TTL too large to add to
// a timestamp means never, and a stream whose next deadline is never
// does not hold back the others, whose deadlines alone set the wake-up.
//
// When such a removal empties a subject and SubjectDeleteMarkerTTL > 0,
// the stream appends a marker in the same atomic write (ADR-43).
// Appends wake the loop early (hintDeadline) when they bring a deadline
// closer than the one it sleeps for.

// expireBatch bounds the removals made under one hold of a stream lock.
const expireBatch = 10000

// markerHeader builds the header of an age marker (ADR-43): the TTL is
// formatted as a Go duration string.
func markerHeader(ttl time.Duration) []byte {
	return []byte("NATS/1.0\r\nNats-Marker-Reason: MaxAge\r\nNats-TTL: " + ttl.String() + "\r\n\r\n")
}

// expire removes what is due at now and returns the stream's next
// deadline (Unix ns; never if none).
func (s *stream) expire(now int64) int64 {
	for {
		s.mu.Lock()
		if s.usableLocked() != nil {
			s.mu.Unlock()
			return never
		}
		ws := s.scratchLocked()
		next, more := s.expireLocked(ws, now, expireBatch)
		var maxSeq uint64
		if n := len(ws.puts); n > 0 {
			maxSeq = ws.puts[n-1].msg.Seq
		}
		wait, err := s.applyLocked(ws)
		s.mu.Unlock()
		if err = waitErr(s.name, wait, err); err != nil {
			s.st.log.Error("store: expiry failed", "stream", s.name, "err", err)
			return never
		}
		if maxSeq > 0 {
			s.deliver(maxSeq)
		}
		if !more {
			return next
		}
	}
}

// expireLocked does one pass of at most bound removals; more reports
// that it stopped at the bound.
func (s *stream) expireLocked(ws *writeSet, now int64, bound int) (next int64, more bool) {
	next = never
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
		cutoff := subSat(now, maxAge)
		p := s.ix.lowerBound(s.ageFrom)
		for ; p < len(s.ix.entries) && removed < bound; p++ {
			e := &s.ix.entries[p]
			if e.subj == nil || e.flags&entryNeverExpire != 0 {
				continue // removed, or exempt from MaxAge
			}
			if e.time > cutoff {
				// The deadline of a live message: next is exact,
				// whatever removed entries the index still holds.
				next = addSat(e.time, maxAge)
				break
			}
			remove(p)
		}
		if p < len(s.ix.entries) {
			s.ageFrom = s.ix.entries[p].seq
		} else {
			s.ageFrom = s.lastSeq + 1
		}
		more = removed >= bound
	}
	// The heap holds TTLs accepted while AllowMsgTTL was on, and the
	// store's own markers.
	{
		for s.ttls.len() > 0 && removed < bound {
			top := s.ttls.top()
			if top.deadline > now {
				if s.ix.pos(top.seq) >= 0 {
					next = min(next, top.deadline)
					break
				}
				// The item of a removed message: drop it, so that next
				// is the deadline of a live one (the same on a replica
				// that rebuilt its heap).
			}
			s.ttls.pop()
			if p := s.ix.pos(top.seq); p >= 0 {
				remove(p) // counts its item dead
			}
			s.ttls.dead-- // the popped item was dead or is now
		}
		more = more || removed >= bound
	}
	if mttl := s.cfg.SubjectDeleteMarkerTTL; mttl > 0 && removed > 0 {
		s.placeMarkersLocked(ws, emptied, now, mttl)
		next = min(next, deadline(max(now, s.lastTime), mttl))
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
		if s.ix.lookup(subject) == nil && e.flags&entryDeleteMarker == 0 {
			due = append(due, e)
		}
	}
	slices.SortFunc(due, func(a, b entry) int { return cmp.Compare(a.seq, b.seq) })
	hdr := markerHeader(mttl)
	for _, e := range due {
		if s.lastSeq >= MaxSeq {
			break // no sequence left for a marker (ErrSeqOverflow)
		}
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

// maxExpirySleep bounds one sleep of the expiry loop, so that no
// deadline, however computed, can put it to sleep for longer.
const maxExpirySleep = time.Hour

func (st *Store) expireLoop() {
	defer st.wg.Done()
	for {
		st.nextWake.Store(math.MaxInt64)
		now := st.clock.Now().UnixNano()
		next := never
		for _, s := range st.Streams() {
			if s := s.(*stream); !s.driven { // driven.go: only ExpireAt
				next = min(next, s.expire(now))
			}
		}
		// Publish the deadline we sleep for; a hint that arrived during
		// the pass lowered nextWake and left a token in st.wake.
		for {
			cur := st.nextWake.Load()
			if next >= cur || st.nextWake.CompareAndSwap(cur, next) {
				break
			}
		}
		// An absolute wake-up time: a clock that moves while the timer
		// is set (a manual clock may jump) cannot make it fire late.
		ch, stop := st.clock.At(time.Unix(0, wakeAt(now, next)))
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

// wakeAt returns when a pass made at now sleeps until for a deadline:
// the deadline, but at most maxExpirySleep after now.
func wakeAt(now, next int64) int64 {
	return min(next, addSat(now, int64(maxExpirySleep)))
}
