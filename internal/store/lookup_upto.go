package store

import (
	"slices"
)

// Point-in-time reads of many subjects (ADR-31 batch direct get with
// "multi_last" and "up_to_seq"): the last message of every subject
// matching a set of filters whose sequence is at most N, as the stream
// held them at one moment. It is the capture of snapshot_capture.go
// with a ceiling N below the stream's last sequence L:
//
//	a=1 (seq 1)  b=2 (seq 2)  a=3 (seq 3)  b=4 (seq 4)   history 5
//	up to 2: a→1, b→2        up to 3: b→2, a→3        up to 4: a→3, b→4
//
// A subject whose messages at or below N are all gone (removed by the
// history limit, a purge, a delete) has no answer: the store answers
// from what it holds, as nats-server does. Writes after the moment of
// the capture never show: new messages are above L ≥ N, and a message
// removed during the capture was recorded by it (noteRemovalLocked) and
// stays readable through the Pebble snapshot (or, for a memory stream,
// the captured *Msg).

// LastUpToQuery selects the messages of SnapshotLastUpTo.
type LastUpToQuery struct {
	// Filters are subject filters, wildcards allowed; none means every
	// subject. A subject matching several counts once.
	Filters []string
	// UpTo is the highest sequence considered; 0, or a sequence beyond
	// the stream's last, means the stream's last sequence.
	UpTo uint64
	// From: results with a lower sequence are counted (Skipped) but not
	// returned, so that a client can continue an answer cut short.
	From uint64
	// Limit, when positive, is how many results at most are returned;
	// those after them are counted (Beyond) and not held, so that memory
	// follows the answer, not the bucket.
	Limit int
}

// LastUpToSnapshot is the answer of SnapshotLastUpTo: a Snapshot whose
// Next returns the selected messages in ascending sequence order, whose
// LastSeq is the effective ceiling (UpTo, or the stream's last sequence
// when UpTo was 0 or beyond it), plus the results it counted without
// holding them.
type LastUpToSnapshot interface {
	Snapshot
	// Skipped returns how many results lie below the query's From.
	Skipped() int
	// Beyond returns how many results follow the Limit returned ones.
	Beyond() int
}

// LastUpToReader is the optional part of a Stream that answers
// point-in-time multi-subject reads. The store's streams implement it.
type LastUpToReader interface {
	// SnapshotLastUpTo captures, atomically with respect to writes, the
	// last message at or below q.UpTo of every subject matching
	// q.Filters. Cost and budget as SnapshotLastPerSubject: up to
	// upToTreeLiterals literal filters (map lookups) and
	// upToTreeWildcards wildcard ones matching at most upToTreeLimit
	// subjects are read from the subject tree under one read lock;
	// other queries walk the index up to the ceiling in chunks,
	// releasing the lock between them. The snapshot holds 8 bytes per
	// returned message not yet read (16 for a memory stream), counted
	// against Options.MaxSnapshotEntries (ErrSnapshotBudget). A
	// malformed filter fails with ErrInvalidSubject. The caller must
	// Close the snapshot.
	SnapshotLastUpTo(q LastUpToQuery) (LastUpToSnapshot, error)
}

var _ LastUpToReader = (*stream)(nil)

// upToTreeLimit is how many subjects wildcard filters may match for a
// query to be answered from the subject tree under one read lock; past
// it the index is walked in chunks (a variable for tests).
var upToTreeLimit = 1024

// A query is answered from the tree only with at most upToTreeLiterals
// literal and upToTreeWildcards wildcard filters: a lookup per literal,
// and a walk per wildcard that may visit many subjects matching nothing,
// all under one read lock. More filters walk the index in chunks.
const (
	upToTreeLiterals  = 4096
	upToTreeWildcards = 8
)

type upToSnapshot struct {
	*snapshot
	skipped, beyond int
}

func (sn *upToSnapshot) Skipped() int { return sn.skipped }
func (sn *upToSnapshot) Beyond() int  { return sn.beyond }

// upToCapture is a capture (snapshot_capture.go) that also applies the
// query's From and Limit.
type upToCapture struct {
	*capture
	from            uint64
	limit           int
	skipped, beyond int
}

// take counts or adds one result, met in ascending order by the walk.
func (c *upToCapture) take(seq uint64, m *Msg) {
	switch {
	case seq < c.from:
		c.skipped++
	case c.limit > 0 && len(c.seqs) >= c.limit:
		c.beyond++
	default:
		c.add(seq, m)
	}
}

func (s *stream) SnapshotLastUpTo(q LastUpToQuery) (LastUpToSnapshot, error) {
	for _, f := range q.Filters {
		if !validFilter(f) {
			return nil, ErrInvalidSubject
		}
	}
	sn := &snapshot{s: s, budget: s.st.snapBudget}
	s.mu.RLock()
	if err := s.usableLocked(); err != nil {
		s.mu.RUnlock()
		return nil, err
	}
	sn.upTo = s.lastSeq
	if q.UpTo != 0 && q.UpTo < sn.upTo {
		sn.upTo = q.UpTo
	}
	mem, _ := s.be.(*memBackend)
	if be, ok := s.be.(*pebbleBackend); ok {
		// Every write up to the last sequence is in Pebble: the
		// snapshot sees all of the sequences at or below the ceiling.
		sn.pebble, sn.pin = be, be.st.db.NewSnapshot()
	}
	openSnapshots.add(sn)
	durable := s.durableTicketLocked()
	c := &upToCapture{
		capture: &capture{upTo: sn.upTo, match: filtersMatcher(q.Filters), mem: mem, budget: sn.budget},
		from:    q.From,
		limit:   q.Limit,
	}
	var err error
	if s.lastsUpToLocked(q.Filters, c) {
		s.mu.RUnlock()
		err = c.reserve()
	} else {
		openSnapshots.startCapture(s, c.capture)
		s.mu.RUnlock()
		err = s.walkUpTo(c)
		openSnapshots.endCapture(s, c.capture)
	}
	if err == nil {
		err = durable()
	}
	if err == nil {
		err = sn.fill(c.capture)
	}
	if err != nil {
		c.budget.release(c.reserved)
		sn.Close()
		return nil, err
	}
	return &upToSnapshot{snapshot: sn, skipped: c.skipped, beyond: c.beyond}, nil
}

// lastsUpToLocked answers from the subject tree when the filters are
// literal or match at most upToTreeLimit subjects, and reports whether
// it did; otherwise it adds nothing.
func (s *stream) lastsUpToLocked(filters []string, c *upToCapture) bool {
	if len(filters) == 0 || slices.ContainsFunc(filters, matchAll) {
		return false
	}
	if wild := countFunc(filters, hasWildcard); wild > upToTreeWildcards || len(filters)-wild > upToTreeLiterals {
		return false
	}
	var seqs []uint64
	visit := func(ss *subjectState) bool {
		if seq := lastAtOrBelow(ss.seqs(), c.upTo); seq != 0 {
			seqs = append(seqs, seq)
		}
		return len(seqs) <= upToTreeLimit
	}
	for _, f := range filters {
		if !hasWildcard(f) {
			if ss := s.ix.lookup(f); ss != nil {
				visit(ss)
			}
			continue
		}
		if !s.ix.walkMatching(f, &treeWalk{visit: visit}) {
			return false
		}
	}
	// Sequences are unique to their subject: a subject two filters
	// matched shows as the same sequence twice.
	slices.Sort(seqs)
	for _, seq := range slices.Compact(seqs) {
		var m *Msg
		if c.mem != nil {
			m = c.mem.msgs[seq]
		}
		c.take(seq, m)
	}
	return true
}

// lastAtOrBelow returns the highest of seqs (ascending) at or below
// upTo, or 0.
func lastAtOrBelow(seqs []uint64, upTo uint64) uint64 {
	i, found := slices.BinarySearch(seqs, upTo)
	if found {
		return upTo
	}
	if i == 0 {
		return 0
	}
	return seqs[i-1]
}

// walkUpTo is walkCapture (snapshot_capture.go) applying c's From and
// Limit: it collects, chunk by chunk, the results in log order, then
// merges the recorded ones.
func (s *stream) walkUpTo(c *upToCapture) error {
	if err := s.walkChunks(c.capture, c.take); err != nil {
		return err
	}
	return c.mergeRecorded()
}

// mergeRecorded adds the messages removed during the walk before it
// reached them. They may fall anywhere among the results: the list is
// sorted again and, with a Limit, cut back to it. Results counted in
// Beyond while walking all follow every held one, so the first Limit
// results are among the held and recorded ones.
func (c *upToCapture) mergeRecorded() error {
	if len(c.recorded) == 0 {
		return nil
	}
	type result struct {
		seq uint64
		msg *Msg
	}
	all := make([]result, 0, len(c.seqs)+len(c.recorded))
	for i, seq := range c.seqs {
		r := result{seq: seq}
		if c.mem != nil {
			r.msg = c.msgs[i]
		}
		all = append(all, r)
	}
	for _, r := range c.recorded {
		if r.seq < c.from {
			c.skipped++
			continue
		}
		all = append(all, result(r))
	}
	slices.SortFunc(all, func(a, b result) int { return cmpUint64(a.seq, b.seq) })
	if c.limit > 0 && len(all) > c.limit {
		c.beyond += len(all) - c.limit
		all = all[:c.limit]
	}
	c.seqs = c.seqs[:0]
	c.msgs = c.msgs[:0]
	for _, r := range all {
		c.add(r.seq, r.msg)
	}
	return c.reserve()
}

// countFunc counts the elements of s for which f is true.
func countFunc(s []string, f func(string) bool) int {
	n := 0
	for _, v := range s {
		if f(v) {
			n++
		}
	}
	return n
}
