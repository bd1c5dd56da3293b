package store

import (
	"slices"
	"sort"
)

// Lookups that must stay cheap however long the stream is: each holds
// the read lock for work bounded by its answer (or by a page size), not
// by the number of messages (issue 9, "bounded work per request").

// nextMatching returns the lowest live sequence >= start whose subject
// matches filter (a wildcard), or 0. It tests at most nextScanLimit
// entries in log order, then walks the subject tree from where it
// stopped, so a filter whose messages are rare, or absent, costs the
// matching subjects rather than the log. A filter matching everything
// takes the first live entry (nextLive).
func (ix *index) nextMatching(filter string, start uint64) uint64 {
	all := matchAll(filter)
	if all {
		if p := ix.nextLive(ix.lowerBound(start)); p < len(ix.entries) {
			return ix.entries[p].seq
		}
		return 0
	}
	match := matcher(filter)
	p := ix.lowerBound(start)
	for n := 0; p < len(ix.entries); p++ {
		e := &ix.entries[p]
		if e.subj != nil && match(e.subj.subject) {
			return e.seq
		}
		if n++; n == nextScanLimit {
			break
		}
	}
	if p >= len(ix.entries) {
		return 0
	}
	return ix.firstMatchingFrom(filter, ix.entries[p].seq)
}

// pendingScanLimit is the number of entries from the start below which
// numPending counts in log order rather than walking the subject tree.
const pendingScanLimit = 1024

// numPending is Stream.NumPending for a filter with wildcards: it counts
// in log order when few entries follow start; otherwise it sums the
// matching subjects' counts from the tree (skipping those with nothing
// at or after start), or, for a filter that matches everything, counts
// the live entries after start a block at a time.
func (ix *index) numPending(filter string, start uint64, lastPerSubject bool) uint64 {
	all := matchAll(filter)
	p := ix.lowerBound(start)
	if all && !lastPerSubject {
		return ix.countLive(p, len(ix.entries))
	}
	if len(ix.entries)-p <= pendingScanLimit {
		match := matcher(filter)
		var n uint64
		for _, e := range ix.entries[p:] {
			if e.subj != nil && (!lastPerSubject || e.subj.last() == e.seq) && (all || match(e.subj.subject)) {
				n++
			}
		}
		return n
	}
	var n uint64
	ix.walkMatching(filter, &treeWalk{from: start, visit: func(ss *subjectState) bool {
		if lastPerSubject {
			n++ // visited: its last message is at or after start
		} else {
			i, _ := slices.BinarySearch(ss.seqs(), start)
			n += uint64(ss.count() - i)
		}
		return true
	}})
	return n
}

// seqAtTime returns the first live entry stored at or after ns: entries
// are in time order (timestamps never decrease along the sequence, dead
// slots keep theirs), so this is a binary search.
func (ix *index) seqAtTime(ns int64) (uint64, bool) {
	live := ix.live()
	i := sort.Search(len(live), func(i int) bool { return live[i].time >= ns })
	if p := ix.nextLive(ix.head + i); p < len(ix.entries) {
		return ix.entries[p].seq, true
	}
	return 0, false
}

// LastMatching returns the newest live message among the subjects
// matching filter, which may hold wildcards ("" or ">" for any), or
// ErrNotFound (ErrInvalidSubject for a malformed filter). It is the
// direct get "last_by_subj" with a wildcard and costs one map lookup for
// a literal subject; see index.lastSeqMatching for a wildcard.
func (s *stream) LastMatching(filter string) (_ *Msg, err error) {
	if !validFilter(filter) {
		return nil, ErrInvalidSubject
	}
	s.mu.RLock()
	defer s.runlockSettled(&err) // nothing not yet durable (stream.go)
	if err := s.usableLocked(); err != nil {
		return nil, err
	}
	seq := s.ix.lastSeqMatching(filter)
	p := s.ix.pos(seq)
	if seq == 0 || p < 0 {
		return nil, ErrNotFound
	}
	return s.be.load(seq, s.ix.entries[p].subj.subject)
}

// SeqForTime returns the sequence of the first live message stored at or
// after ns (Unix nanoseconds), or LastSeq+1 if there is none: the start
// of a "by_start_time" consumer or direct get. It is a binary search.
func (s *stream) SeqForTime(ns int64) uint64 {
	s.mu.RLock()
	defer s.runlockSettled(nil)
	if seq, ok := s.ix.seqAtTime(ns); ok {
		return seq
	}
	return s.lastSeq + 1
}

// DeletedSeqs returns, ascending, up to limit sequences at or after from
// that hold no message although they lie between FirstSeq and LastSeq
// (the State.NumDeleted gaps, as nats-server lists them in stream info
// "deleted_details"), and the sequence to call again with, 0 when there
// is none left. A call holds the read lock for O(limit) work.
func (s *stream) DeletedSeqs(from uint64, limit int) ([]uint64, uint64) {
	limit = max(limit, 1)
	s.mu.RLock()
	defer s.runlockSettled(nil)
	f := s.ix.first()
	if f == nil || s.closed {
		return nil, 0
	}
	last := s.lastSeq
	cur := max(from, f.seq)
	var out []uint64
	p := s.ix.lowerBound(cur)
	// Every turn lists a gap or passes a live message, so a call always
	// moves on, even with limit 1.
	for work := 0; cur <= last; work++ {
		if len(out) >= limit || work >= limit {
			return out, cur
		}
		if p == len(s.ix.entries) {
			// The gaps after the last live message, up to LastSeq.
			for ; len(out) < limit; cur++ {
				out = append(out, cur)
				if cur == last {
					return out, 0
				}
			}
			return out, cur
		}
		e := &s.ix.entries[p]
		p++
		if e.subj == nil {
			// A removed message: a gap, like every sequence before it.
			for ; cur <= e.seq && len(out) < limit; cur++ {
				out = append(out, cur)
			}
			if cur <= e.seq {
				return out, cur
			}
			continue
		}
		for ; cur < e.seq && len(out) < limit; cur++ {
			out = append(out, cur)
		}
		if cur < e.seq {
			return out, cur
		}
		cur = e.seq + 1
		if cur == 0 {
			break // e.seq was MaxUint64
		}
	}
	return out, 0
}
