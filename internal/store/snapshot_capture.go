package store

import (
	"slices"
	"strings"
	"sync/atomic"
)

// Capturing a snapshot. L and the Pebble snapshot are taken under one
// read lock; the list of sequences is then collected by walking the
// index in chunks, releasing the lock between them, so that appends
// never wait for more than one chunk however large the stream. Writes
// made between chunks cannot add sequences at or below L, but they can
// remove them: a rewrite under a history of 1, a delete, a purge,
// expiry. So while a capture runs, every removal reports to it
// (noteRemovalLocked) the message it takes away if that message was the
// last of its subject at L and the walk has not reached it yet. The
// walk skips the subjects recorded that way.
//
//	L = 9; walk done below 5
//	a=[3 7]  b=[6]  c=[8]          a rewrite of b (history 1) removes 6:
//	                               recorded b→6 (memory: its *Msg)
//	walk 5..9: 7 (a) is last ≤ L   taken; 8 (c) taken
//	result: 6 7 8
//
// The list is reserved against the Store's snapshot budget
// (snapshot_budget.go) as it grows, chunk by chunk, so a capture that
// would pass it stops after one chunk too many at most, fails with
// ErrSnapshotBudget and gives everything back.

// snapshotCaptureChunk is how many index entries a capture examines per
// visit under the read lock (a variable for tests).
var snapshotCaptureChunk = 1024

// captureBetweenChunks, when set (tests only), runs between two chunks
// of a capture, with no lock held.
var captureBetweenChunks func()

// capturesRunning counts captures in progress in the process, so that a
// removal costs one atomic load when there are none.
var capturesRunning atomic.Int64

// capture is the state of one capture in progress. Its fields are
// guarded by the stream lock: the walk writes them under the read lock
// and removals read and write them under the write lock.
type capture struct {
	upTo   uint64
	match  func(string) bool
	walked uint64 // every entry below it was examined
	// recorded maps the subjects whose last message at L was removed
	// before the walk reached it to that message.
	recorded map[string]recordedMsg
	mem      *memBackend // memory streams: where the messages are

	// The list being collected, and how many of its entries are
	// reserved against budget.
	seqs     []uint64
	msgs     []*Msg
	budget   *snapshotBudget
	reserved int
}

// add appends one message to the list.
func (c *capture) add(seq uint64, m *Msg) {
	c.seqs = append(c.seqs, seq)
	if c.mem != nil {
		c.msgs = append(c.msgs, m)
	}
}

// reserve reserves the entries added since the last call.
func (c *capture) reserve() error {
	n := len(c.seqs) - c.reserved
	if !c.budget.reserve(n) {
		return ErrSnapshotBudget
	}
	c.reserved += n
	return nil
}

type recordedMsg struct {
	seq uint64
	msg *Msg // memory streams only
}

func (s *stream) SnapshotLastPerSubject(filters []string) (Snapshot, error) {
	for _, f := range filters {
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
	mem, _ := s.be.(*memBackend)
	if be, ok := s.be.(*pebbleBackend); ok {
		// Every write up to lastSeq was committed to Pebble under the
		// stream lock, so the snapshot sees all of the sequences.
		sn.pebble, sn.pin = be, be.st.db.NewSnapshot()
	}
	// Registered before the lock is released, so that a close of the
	// stream, which takes the lock first, cannot miss it.
	openSnapshots.add(sn)
	durable := s.durableTicketLocked()
	c := &capture{upTo: sn.upTo, match: filtersMatcher(filters), mem: mem, budget: sn.budget}
	var err error
	if literal := len(filters) > 0 && !slices.ContainsFunc(filters, hasWildcard); literal {
		var seqs []uint64
		for _, f := range filters {
			if ss := s.ix.lookup(f); ss != nil {
				seqs = append(seqs, ss.last())
			}
		}
		slices.Sort(seqs)
		for _, seq := range slices.Compact(seqs) {
			var m *Msg
			if mem != nil {
				m = mem.msgs[seq]
			}
			c.add(seq, m)
		}
		s.mu.RUnlock()
		err = c.reserve()
	} else {
		openSnapshots.startCapture(s, c)
		s.mu.RUnlock()
		err = s.walkCapture(c)
		openSnapshots.endCapture(s, c)
	}
	if err == nil {
		err = durable()
	}
	if err == nil {
		err = sn.fill(c)
	}
	if err != nil {
		c.budget.release(c.reserved)
		sn.Close()
		return nil, err
	}
	return sn, nil
}

// fill hands the list of c, reserved, to sn; ErrClosed if the stream
// closed sn meanwhile. An empty snapshot of a file stream lets its
// Pebble snapshot go at once.
func (sn *snapshot) fill(c *capture) error {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if sn.closed {
		return ErrClosed
	}
	sn.seqs, sn.charged = c.seqs, c.reserved
	if c.mem != nil {
		sn.msgs = c.msgs
		if sn.msgs == nil {
			sn.msgs = []*Msg{}
		}
	}
	if len(sn.seqs) == 0 {
		sn.releasePinLocked()
	}
	return nil
}

// walkCapture collects the last sequence at L of every subject c
// matches, chunk by chunk, then adds the recorded ones, reserving them
// as it goes.
func (s *stream) walkCapture(c *capture) error {
	if err := s.walkChunks(c, c.add); err != nil {
		return err
	}
	if len(c.recorded) == 0 {
		return nil
	}
	for _, r := range c.recorded {
		c.add(r.seq, r.msg)
	}
	if err := c.reserve(); err != nil {
		return err
	}
	// The recorded entries are out of order. Sorting takes a second
	// list for a moment, as long as the first.
	order := make([]int, len(c.seqs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmpUint64(c.seqs[a], c.seqs[b]) })
	seqs := make([]uint64, len(order))
	var msgs []*Msg
	if c.mem != nil {
		msgs = make([]*Msg, len(order))
	}
	for i, j := range order {
		seqs[i] = c.seqs[j]
		if msgs != nil {
			msgs[i] = c.msgs[j]
		}
	}
	c.seqs, c.msgs = seqs, msgs
	return nil
}

func cmpUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// lastAtLocked reports whether seq, a live sequence of ss, is the
// highest of ss's live sequences at or below upTo.
func lastAtLocked(ss *subjectState, seq, upTo uint64) bool {
	if ss.last() == seq {
		return true
	}
	seqs := ss.seqs()
	i, _ := slices.BinarySearch(seqs, seq)
	return i+1 >= len(seqs) || seqs[i+1] > upTo
}

// noteRemovalLocked tells the captures in progress that the live entry
// at position p of the index is about to be removed. Called under the
// write lock by every removal, before the index changes.
func (s *stream) noteRemovalLocked(p int) {
	if capturesRunning.Load() == 0 {
		return
	}
	caps := openSnapshots.captures(s)
	if len(caps) == 0 {
		return
	}
	e := &s.ix.entries[p]
	for _, c := range caps {
		if e.seq > c.upTo || e.seq < c.walked || !lastAtLocked(e.subj, e.seq, c.upTo) {
			continue
		}
		subject := e.subj.subject
		if _, ok := c.recorded[subject]; ok || !c.match(subject) {
			continue
		}
		if c.recorded == nil {
			c.recorded = make(map[string]recordedMsg)
		}
		r := recordedMsg{seq: e.seq}
		if c.mem != nil {
			r.msg = c.mem.msgs[e.seq] // the backend still holds it
		}
		c.recorded[subject] = r
	}
}

// filtersMatcher returns a function reporting whether a subject matches
// any of filters (none: every subject). Several filters are one trie
// (subject.MatcherAny): the capture tests every entry under the read
// lock, and a watch may carry thousands of filters.
func filtersMatcher(filters []string) func(string) bool {
	if len(filters) == 0 || slices.ContainsFunc(filters, matchAll) {
		return func(string) bool { return true }
	}
	if len(filters) == 1 {
		return snapshotMatcher(filters[0])
	}
	return matcherAny(filters)
}

// snapshotMatcher is matcher with a fast path for "<prefix>.>", the
// filter of a whole-bucket watch, tested against every key.
func snapshotMatcher(filter string) func(string) bool {
	if prefix, ok := strings.CutSuffix(filter, ">"); ok && strings.HasSuffix(prefix, ".") && !hasWildcard(prefix[:len(prefix)-1]) {
		return func(subject string) bool { return len(subject) > len(prefix) && strings.HasPrefix(subject, prefix) }
	}
	return matcher(filter)
}

// durableTicketLocked returns a function that waits until every write
// applied to the stream so far is durable under the sync policy (the
// watermark every read obeys, sync.go): the group commit fsyncs
// (SyncAlways) or hands the WAL to the operating system (default policy).
// It waits for the stream's newest ticket, so it costs no extra sync when
// nothing is in flight.
func (s *stream) durableTicketLocked() func() error {
	t := s.unsettled
	return func() error { return s.st.durable(t) }
}

// walkChunks passes to take, in log order, the last sequence at c.upTo
// of every subject c matches that was not recorded meanwhile, reading
// the index a chunk at a time under the read lock and reserving what
// was taken after each chunk. The recorded subjects are left to the
// caller.
func (s *stream) walkChunks(c *capture, take func(seq uint64, m *Msg)) error {
	for done := false; !done; {
		if captureBetweenChunks != nil && c.walked > 0 {
			captureBetweenChunks()
		}
		s.mu.RLock()
		if err := s.usableLocked(); err != nil {
			s.mu.RUnlock()
			return err
		}
		live := s.ix.entries[s.ix.lowerBound(c.walked):]
		n := min(len(live), snapshotCaptureChunk)
		done = n == len(live)
		for i := range live[:n] {
			e := &live[i]
			if e.seq > c.upTo {
				done = true
				break
			}
			c.walked = e.seq + 1
			if e.subj == nil || !lastAtLocked(e.subj, e.seq, c.upTo) {
				continue
			}
			if _, ok := c.recorded[e.subj.subject]; ok || !c.match(e.subj.subject) {
				continue
			}
			var m *Msg
			if c.mem != nil {
				m = c.mem.msgs[e.seq]
			}
			take(e.seq, m)
		}
		if done {
			// Detached under the lock: no removal reports to it after.
			c.walked = c.upTo + 1
		}
		s.mu.RUnlock()
		if err := c.reserve(); err != nil {
			return err
		}
	}
	return nil
}
