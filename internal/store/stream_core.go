package store

import (
	"fmt"
	"math"
	"slices"
	"sync"
)

// stream is the one implementation of Stream; the backend makes it a
// file or a memory stream. Everything a limit or an expectation needs is
// decided from the in-memory index under mu; message bodies stay in the
// backend.
//
// Lock order: Store.mu, then stream.deliverMu, then stream.mu, then
// stream.subsMu. Writers release mu before they take deliverMu (see
// notify.go).
type stream struct {
	st *Store
	// deferred holds the sync waits of the NoWait appends not yet
	// settled, oldest first: Settle calls each, which also closes its
	// Pebble batch (a batch never closed is never reused: every
	// replicated append allocated a new one).
	deferred struct {
		sync.Mutex
		waits []func() error
	}
	be    backend
	name  string
	stype StorageType
	// driven is Config.Driven, which cannot change (driven.go).
	driven bool

	mu       sync.RWMutex
	cfg      Config
	meta     []byte
	closed   bool
	failed   error // a backend write failed: the index may be ahead of the backend
	ix       *index
	lastSeq  uint64
	lastTime int64
	dedup    dedupTable
	ttls     ttlHeap
	// applied is the replicated log index of the last entry applied
	// (driven.go); persisted with every write set that carries one.
	applied uint64
	// ageFrom: every message below it is removed or exempt from MaxAge,
	// so the age scan starts here.
	ageFrom uint64
	// pending holds appended messages not yet passed to subscribers.
	pending []*Msg
	// unsettled is the durable watermark of the newest write set
	// applied: the Pebble sequence number of its last record
	// (Store.durable). A read waits for it, outside mu, before it
	// returns what it observed (runlockSettled), so no reader sees a
	// write that a crash could take back.
	unsettled uint64
	// ws is the write set reused by every operation (under mu).
	ws writeSet

	// deliverMu serialises delivery so subscribers see sequence order.
	deliverMu sync.Mutex
	subsMu    sync.Mutex
	subs      []*subscriber
}

var _ Stream = (*stream)(nil)

func newStream(st *Store, cfg Config, meta []byte, be backend) *stream {
	return &stream{
		st:     st,
		be:     be,
		name:   cfg.Name,
		stype:  cfg.Storage,
		driven: cfg.Driven,
		cfg:    cloneConfig(cfg),
		meta:   slices.Clone(meta),
		ix:     newIndex(),
		dedup:  newDedupTable(),
	}
}

// scratchLocked returns the stream's reusable write set, emptied.
func (s *stream) scratchLocked() *writeSet {
	ws := &s.ws
	clear(ws.puts) // drop references to delivered messages
	puts, dels := ws.puts[:0], ws.dels[:0]
	if cap(dels) > 4096 {
		dels = nil // do not keep a large purge's slice alive
	}
	var idPuts []dedupPut
	var idDels []string
	if s.driven {
		clear(ws.idPuts)
		clear(ws.idDels)
		idPuts, idDels = ws.idPuts[:0], ws.idDels[:0]
	}
	*ws = writeSet{puts: puts, dels: dels, idPuts: idPuts, idDels: idDels}
	return ws
}

func cloneConfig(c Config) Config {
	c.Subjects = slices.Clone(c.Subjects)
	return c
}

func (s *stream) Name() string { return s.name }

func (s *stream) Config() Config {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return cloneConfig(s.cfg)
}

func (s *stream) Meta() []byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.meta
}

// usableLocked returns the error that stops any operation, if any.
func (s *stream) usableLocked() error {
	if s.closed {
		return ErrClosed
	}
	return s.failed
}

// runlockSettled releases the read lock, then waits until every write
// the reader may have observed under it is durable (sync.go). A failed
// wait is stored in *err (when err is not nil and holds no error yet):
// the reader must not return what it saw.
func (s *stream) runlockSettled(err *error) {
	ticket := s.unsettled
	s.mu.RUnlock()
	if werr := s.st.durable(ticket); werr != nil && err != nil && *err == nil {
		*err = fmt.Errorf("store: stream %s: sync: %w", s.name, werr)
	}
}

func (s *stream) now() int64 { return s.st.clock.Now().UnixNano() }

// timeFor returns the now of an operation given an explicit time t: t
// raised to the stream's last timestamp, or the clock's time for t == 0.
func (s *stream) timeFor(t int64) int64 {
	if t == 0 {
		return s.now()
	}
	return max(t, s.lastTime)
}

// msgSize is nats-server's accounting of one message (State.Bytes).
func (s *stream) msgSize(subject string, hdr, data []byte) uint64 {
	if s.stype == MemoryStorage {
		return uint64(len(subject) + len(hdr) + len(data) + 16)
	}
	n := 22 + len(subject) + len(data) + 8
	if len(hdr) > 0 {
		n += 4 + len(hdr)
	}
	return uint64(n)
}

func (s *stream) Get(seq uint64) (_ *Msg, err error) {
	s.mu.RLock()
	defer s.runlockSettled(&err)
	if err := s.usableLocked(); err != nil {
		return nil, err
	}
	p := s.ix.pos(seq)
	if p < 0 {
		return nil, ErrNotFound
	}
	return s.be.load(seq, s.ix.entries[p].subj.subject)
}

func (s *stream) GetLast(subject string) (_ *Msg, err error) {
	if !validSubject(subject) {
		return nil, ErrInvalidSubject
	}
	s.mu.RLock()
	defer s.runlockSettled(&err)
	if err := s.usableLocked(); err != nil {
		return nil, err
	}
	ss := s.ix.lookup(subject)
	if ss == nil {
		return nil, ErrNotFound
	}
	return s.be.load(ss.last(), ss.subject)
}

func (s *stream) GetNext(filter string, start uint64) (_ *Msg, err error) {
	if !validFilter(filter) {
		return nil, ErrInvalidSubject
	}
	s.mu.RLock()
	defer s.runlockSettled(&err)
	if err := s.usableLocked(); err != nil {
		return nil, err
	}
	if !hasWildcard(filter) {
		ss := s.ix.lookup(filter)
		if ss == nil {
			return nil, ErrNotFound
		}
		seqs := ss.seqs()
		i, _ := slices.BinarySearch(seqs, start)
		if i == len(seqs) {
			return nil, ErrNotFound
		}
		return s.be.load(seqs[i], ss.subject)
	}
	seq := s.ix.nextMatching(filter, start)
	p := s.ix.pos(seq)
	if seq == 0 || p < 0 {
		return nil, ErrNotFound
	}
	return s.be.load(seq, s.ix.entries[p].subj.subject)
}

// lastPerSubjectChunk is how many messages LastPerSubject loads per
// visit under the read lock.
const lastPerSubjectChunk = 1024

func (s *stream) LastPerSubject(filter string, fn func(*Msg) bool) error {
	if !validFilter(filter) {
		return ErrInvalidSubject
	}
	literal := !hasWildcard(filter)
	match := matcher(filter)
	var from uint64
	whole := false // the chunk holds every matching subject
	msgs := make([]*Msg, 0, lastPerSubjectChunk)
	seqs := make([]uint64, 0, lastPerSubjectChunk)
	subjects := make([]string, 0, lastPerSubjectChunk)
	for {
		msgs, seqs, subjects = msgs[:0], seqs[:0], subjects[:0]
		s.mu.RLock()
		if err := s.usableLocked(); err != nil {
			s.mu.RUnlock()
			return err
		}
		if literal {
			if ss := s.ix.lookup(filter); ss != nil {
				seqs, subjects = append(seqs, ss.last()), append(subjects, ss.subject)
			}
		} else if from == 0 && !matchAll(filter) && s.ix.lastsMatching(filter, lastPerSubjectChunk, &seqs, &subjects) {
			// A filter with few subjects, from the subject tree.
			whole = true
		} else {
			live := s.ix.entries[s.ix.lowerBound(from):]
			for i := range live {
				e := &live[i]
				if e.subj == nil || e.subj.last() != e.seq || !match(e.subj.subject) {
					continue
				}
				seqs, subjects = append(seqs, e.seq), append(subjects, e.subj.subject)
				if len(seqs) == cap(seqs) {
					break
				}
			}
		}
		err := s.be.loadEach(seqs, subjects, func(m *Msg) bool {
			msgs = append(msgs, m)
			return true
		})
		s.runlockSettled(&err)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if !fn(m) {
				return nil
			}
		}
		if literal || whole || len(seqs) < lastPerSubjectChunk || seqs[len(seqs)-1] == math.MaxUint64 {
			return nil
		}
		from = seqs[len(seqs)-1] + 1
	}
}

func (s *stream) NumPending(filter string, start uint64, lastPerSubject bool) uint64 {
	if !validFilter(filter) {
		return 0
	}
	s.mu.RLock()
	defer s.runlockSettled(nil)
	if s.closed {
		return 0
	}
	if !hasWildcard(filter) {
		ss := s.ix.lookup(filter)
		if ss == nil {
			return 0
		}
		if lastPerSubject {
			if ss.last() >= start {
				return 1
			}
			return 0
		}
		i, _ := slices.BinarySearch(ss.seqs(), start)
		return uint64(ss.count() - i)
	}
	return s.ix.numPending(filter, start, lastPerSubject)
}

func (s *stream) State() State {
	s.mu.RLock()
	defer s.runlockSettled(nil)
	st := State{
		Msgs:        s.ix.msgs,
		Bytes:       s.ix.bytes,
		FirstSeq:    s.lastSeq + 1,
		LastSeq:     s.lastSeq,
		LastTime:    s.lastTime,
		NumSubjects: s.ix.nsubjects,
	}
	if s.lastSeq == 0 {
		st.FirstSeq = 0 // a stream that never held a message, as in nats-server
	}
	if f := s.ix.first(); f != nil {
		st.FirstSeq, st.FirstTime = f.seq, f.time
		st.NumDeleted = int(st.LastSeq - st.FirstSeq + 1 - st.Msgs)
	}
	return st
}

// subjectsStateChunk bounds the index entries SubjectsState examines
// under one hold of the read lock.
const subjectsStateChunk = 4096

// SubjectsState counts the live messages of every subject matching
// filter. A literal filter, or a filter matching few subjects, is
// answered from the subject tree in one hold of the read lock; a wide
// one by a walk of the log in chunks of subjectsStateChunk entries,
// releasing the lock in between, so that a stream of millions of
// subjects never blocks its writers for the whole walk. The walk counts
// each subject at its last message at or before the stream's last
// sequence when the call began: messages appended during the walk are
// not counted, and messages removed during it may or may not be.
func (s *stream) SubjectsState(filter string) map[string]uint64 {
	out := make(map[string]uint64)
	if !validFilter(filter) {
		return out
	}
	s.mu.RLock()
	if !hasWildcard(filter) {
		if ss := s.ix.lookup(filter); ss != nil {
			out[filter] = uint64(ss.count())
		}
		s.runlockSettled(nil)
		return out
	}
	var seqs []uint64
	var subjects []string
	if !matchAll(filter) && s.ix.lastsMatching(filter, lastPerSubjectChunk, &seqs, &subjects) {
		for _, subj := range subjects {
			out[subj] = uint64(s.ix.lookup(subj).count())
		}
		s.runlockSettled(nil)
		return out
	}
	end := s.lastSeq
	s.runlockSettled(nil)
	match := matcher(filter)
	for from := uint64(0); ; {
		s.mu.RLock()
		if s.closed {
			s.mu.RUnlock()
			return out
		}
		p := s.ix.lowerBound(from)
		stop := min(len(s.ix.entries), p+subjectsStateChunk)
		for ; p < stop; p++ {
			e := &s.ix.entries[p]
			if e.seq > end {
				break
			}
			if e.subj == nil || !match(e.subj.subject) {
				continue
			}
			// Count the subject at its last message at or before end.
			seqs := e.subj.seqs()
			n := len(seqs)
			if seqs[n-1] != e.seq {
				n, _ = slices.BinarySearch(seqs, e.seq+1)
				if seqs[n] <= end {
					continue // a later message of the subject counts it
				}
			}
			out[e.subj.subject] = uint64(n)
		}
		done := p >= len(s.ix.entries) || s.ix.entries[p].seq > end
		if !done {
			from = s.ix.entries[p].seq
		}
		s.runlockSettled(nil)
		if done {
			return out
		}
	}
}
