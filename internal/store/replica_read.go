package store

import (
	"container/heap"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
)

// Reading a replica (replica_header.go has the whole exchange). A
// ReplicaRead pins a stream at its last sequence L, as an Export does,
// and takes the header (config, meta, Applied, the duplicate window,
// first and last sequence, last time) under the same hold of the read
// lock, so header and messages are one point of the stream's history.
// A file stream is read from a Pebble snapshot. A memory stream has
// none, so it is read from the live index a chunk at a time, and while
// the read runs every removal hands it the message it takes away if
// the read has not reached it yet (noteRemovalLocked):
//
//	L = 6, read done below 3, live 3 5 6
//	a purge removes 3 and 5         → handed over: 3, 5 (their *Msg)
//	next chunk: 3, 5 (handed over) merged with 6 (live) by sequence
//
// Messages are immutable in a memory stream, so the read holds
// pointers, never copies, of what was removed under it.

// replicaReadChunk bounds the messages of one chunk of a memory
// stream's read (a variable for tests).
var replicaReadChunk = exportReadChunk

// ReplicaRead is a point-in-time read of a whole stream, file or
// memory, for a replica's catch-up: Header, then the messages in
// ascending order from Next. It is used by one goroutine at a time;
// Close may be called from any goroutine. Deleting the stream or
// closing the Store ends it too (Next then returns ErrClosed).
//
// Cost: the header's duplicate window is copied (one entry per id in
// it). A file stream's read holds a Pebble snapshot, which keeps
// compactions from dropping the versions it sees, until Next has read
// the last message. A memory stream's read takes each chunk under the
// stream's read lock (at most 256 messages, 1 MiB of payload or 1024
// index slots), releasing it in between, and keeps alive the messages
// removed under it before it read them. Neither loads the stream whole.
type ReplicaRead struct {
	h   ReplicaHeader
	ex  *Export  // file streams
	mem *memRead // memory streams
}

// ReadReplica starts a replica read of the named stream (any storage,
// driven or not) at its current last sequence. It fails with
// ErrStreamNotFound or ErrClosed. Like every read, it returns once
// everything it will return is durable under the sync policy. The
// caller must Close it.
func (st *Store) ReadReplica(name string) (*ReplicaRead, error) {
	str, err := st.Stream(name)
	if err != nil {
		return nil, err
	}
	s := str.(*stream)
	rr := &ReplicaRead{}
	s.mu.RLock()
	if err := s.usableLocked(); err != nil {
		s.mu.RUnlock()
		return nil, err
	}
	state := s.stateLocked()
	rr.h = ReplicaHeader{
		Config: cloneConfig(s.cfg), Meta: slices.Clone(s.meta), Applied: s.applied,
		Msgs: state.Msgs, FirstSeq: state.FirstSeq, LastSeq: state.LastSeq, LastTime: state.LastTime,
		IDs: make([]ReplicaID, 0, len(s.dedup.ids)),
	}
	for id, e := range s.dedup.ids {
		rr.h.IDs = append(rr.h.IDs, ReplicaID{ID: id, Seq: e.seq, Time: e.time})
	}
	switch be := s.be.(type) {
	case *pebbleBackend:
		rr.ex = s.pinExportLocked(be)
	case *memBackend:
		rr.mem = &memRead{s: s, be: be, upTo: s.lastSeq, walked: state.FirstSeq}
		replicaReads.add(rr.mem)
	}
	durable := s.durableTicketLocked()
	s.mu.RUnlock()
	if len(rr.h.Meta) == 0 {
		rr.h.Meta = nil // as DecodeReplicaHeader returns it
	}
	if len(rr.h.IDs) == 0 {
		rr.h.IDs = nil
	}
	slices.SortFunc(rr.h.IDs, cmpReplicaID)
	if err := durable(); err != nil {
		rr.Close()
		return nil, fmt.Errorf("store: stream %s: sync: %w", name, err)
	}
	return rr, nil
}

// Header returns the stream's header at the read's sequence (LastSeq):
// every message Next returns is counted in Msgs. The caller may modify
// the copy it gets.
func (rr *ReplicaRead) Header() ReplicaHeader {
	h := rr.h
	h.Config = cloneConfig(h.Config)
	h.Meta = slices.Clone(h.Meta)
	h.IDs = slices.Clone(h.IDs)
	return h
}

// Next returns the next message in ascending sequence order, with its
// TTL and message id, or io.EOF after the last one. It returns
// ErrClosed after Close or once the stream was deleted or the Store
// closed, and a read error (ErrCorrupt for damaged data) otherwise. The
// message is the caller's.
func (rr *ReplicaRead) Next() (ExportedMsg, error) {
	if rr.ex != nil {
		return rr.ex.Next()
	}
	return rr.mem.next()
}

// Close releases the read; it is idempotent and may be called from any
// goroutine.
func (rr *ReplicaRead) Close() {
	if rr.ex != nil {
		rr.ex.Close()
		return
	}
	if rr.mem != nil {
		rr.mem.close()
	}
}

// memRead is the reading state of a memory stream's replica read.
// Every field but buf is guarded by s.mu: next writes them under the
// read lock (one reader), removals under the write lock. The registry's
// list of a stream's reads changes only under s.mu too (add under the
// read lock, which no removal holds; remove under the write lock).
type memRead struct {
	s      *stream
	be     *memBackend
	upTo   uint64
	walked uint64 // every message below it was returned
	// removed holds the messages in [walked, upTo] removed before the
	// read reached them, lowest sequence first.
	removed removedHeap
	closed  bool
	buf     []ExportedMsg // read ahead; the reader's own
}

type removedMsg struct {
	msg   *Msg
	extra memExtra
}

// removedHeap is a min-heap by sequence.
type removedHeap []removedMsg

func (h removedHeap) Len() int           { return len(h) }
func (h removedHeap) Less(i, j int) bool { return h[i].msg.Seq < h[j].msg.Seq }
func (h removedHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *removedHeap) Push(x any)        { *h = append(*h, x.(removedMsg)) }
func (h *removedHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = removedMsg{}
	*h = old[:len(old)-1]
	return x
}

func (r *memRead) next() (ExportedMsg, error) {
	for len(r.buf) == 0 {
		if err := r.read(); err != nil {
			return ExportedMsg{}, err
		}
	}
	m := r.buf[0]
	r.buf[0] = ExportedMsg{}
	r.buf = r.buf[1:]
	return m, nil
}

// read fills buf with the next chunk: the live messages and the
// removed ones, merged by sequence.
func (r *memRead) read() (err error) {
	s := r.s
	s.mu.RLock()
	defer s.runlockSettled(&err)
	if r.closed {
		return ErrClosed
	}
	if err := s.usableLocked(); err != nil {
		return err
	}
	entries := s.ix.entries
	i := s.ix.lowerBound(r.walked)
	buf, size := r.buf[:0], 0
	take := func(m *Msg, extra memExtra) {
		buf = append(buf, exported(m, extra))
		size += len(m.Header) + len(m.Data)
		r.walked = m.Seq + 1
	}
	for examined := 0; len(buf) < replicaReadChunk && size < exportReadBytes && r.walked <= r.upTo; {
		// The next live entry at or above walked, within the bound.
		for i < len(entries) && entries[i].subj == nil && examined < snapshotCaptureChunk {
			i++
			examined++
		}
		var liveSeq uint64 // 0: none left at or below upTo
		if i < len(entries) && entries[i].seq <= r.upTo {
			liveSeq = entries[i].seq
		}
		dead := liveSeq != 0 && entries[i].subj == nil
		switch {
		case len(r.removed) > 0 && (liveSeq == 0 || r.removed[0].msg.Seq < liveSeq || dead && r.removed[0].msg.Seq == liveSeq):
			rm := heap.Pop(&r.removed).(removedMsg)
			take(rm.msg, rm.extra)
		case liveSeq == 0:
			r.walked = r.upTo + 1
		case dead:
			// Too many removed slots in a row: skip them, and go on in
			// the next chunk.
			r.walked = liveSeq + 1
			r.buf = buf
			return nil
		default:
			take(r.be.msgs[liveSeq], r.be.extra[liveSeq])
			i++
			examined++
		}
	}
	r.buf = buf
	if len(buf) == 0 && r.walked > r.upTo {
		return io.EOF
	}
	return nil
}

// exported copies a memory stream's message for the reader.
func exported(m *Msg, extra memExtra) ExportedMsg {
	e := ExportedMsg{Msg: *m, TTL: extra.ttl, MsgID: extra.msgID}
	e.Header = slices.Clone(m.Header)
	e.Data = append([]byte{}, m.Data...)
	return e
}

func (r *memRead) close() {
	s := r.s
	// Under the write lock: removals iterate the registry's list of s
	// under it.
	s.mu.Lock()
	r.closed = true
	r.removed = nil
	replicaReads.remove(r)
	s.mu.Unlock()
}

// noteReplicaRemovalLocked hands the message at position p of the
// index, about to be removed, to the replica reads of s that have not
// reached it. Called under the write lock by every removal.
func (s *stream) noteReplicaRemovalLocked(p int) {
	if replicaReadsRunning.Load() == 0 {
		return
	}
	e := &s.ix.entries[p]
	for _, r := range replicaReads.of(s) {
		if r.closed || e.seq < r.walked || e.seq > r.upTo {
			continue
		}
		if m := r.be.msgs[e.seq]; m != nil {
			heap.Push(&r.removed, removedMsg{msg: m, extra: r.be.extra[e.seq]})
		}
	}
}

// replicaReads lists the memory replica reads in progress per stream;
// replicaReadsRunning counts them in the process, so that a removal
// costs one atomic load when there are none.
var (
	replicaReads        = replicaReadRegistry{byStream: map[*stream][]*memRead{}}
	replicaReadsRunning atomic.Int64
)

type replicaReadRegistry struct {
	mu       sync.Mutex
	byStream map[*stream][]*memRead
}

func (g *replicaReadRegistry) add(r *memRead) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.byStream[r.s] = append(g.byStream[r.s], r)
	replicaReadsRunning.Add(1)
}

func (g *replicaReadRegistry) remove(r *memRead) {
	g.mu.Lock()
	defer g.mu.Unlock()
	list := g.byStream[r.s]
	n := len(list)
	list = slices.DeleteFunc(list, func(x *memRead) bool { return x == r })
	if len(list) == n {
		return // removed before
	}
	replicaReadsRunning.Add(-1)
	if len(list) == 0 {
		delete(g.byStream, r.s)
	} else {
		g.byStream[r.s] = list
	}
}

func (g *replicaReadRegistry) of(s *stream) []*memRead {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.byStream[s]
}
