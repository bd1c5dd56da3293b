package store

import (
	"errors"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// Snapshots: the initial data of a KV watch is the last message of every
// key as of one moment. Reading it with LastPerSubject while writers run
// is not enough: a key rewritten during the walk has moved beyond the
// moment, and with a history of 1 its old revision is gone. A Snapshot
// therefore captures, atomically with respect to writes, the list of
// sequences to deliver and a view in which those messages stay readable
// whatever happens to the stream afterwards:
//
//	stream: a=1 (seq 1)  b=2 (seq 2)  a=3 (seq 3)        L = 3
//	snapshot: seqs [2 3], pinned at L
//	then:   b=4 (seq 4, history 1 removes seq 2)  del a (seq 5)
//	Next → b=2 (seq 2), a=3 (seq 3), then ErrNotFound
//
// The caller delivers the snapshot and continues live from L+1.

// Snapshot is the last message of every subject matching a set of
// filters, pinned at one sequence L. It is used by one goroutine at a
// time, except that Close may be called from any goroutine, and the
// stream closing (stream deleted, Store closed) releases it too.
type Snapshot interface {
	// LastSeq returns L, the stream's last sequence when the snapshot
	// was taken. Every message of the snapshot has a sequence <= L, and
	// messages above L are not in it.
	LastSeq() uint64
	// Remaining returns how many messages Next has still to return.
	Remaining() int
	// Next returns the next message in ascending sequence order, or
	// ErrNotFound once every message was returned. It returns ErrClosed
	// after Close or once the stream was closed, and a read error (an
	// ErrCorrupt one for damaged data) otherwise; the snapshot is
	// unusable after an error. The message is the caller's.
	Next() (*Msg, error)
	// Close releases the snapshot; it is idempotent.
	Close()
}

// Snapshotter is the part of Stream that takes snapshots.
type Snapshotter interface {
	// SnapshotLastPerSubject captures the last message of every subject
	// matching any of filters (none means every subject) as of the
	// stream's last sequence, atomically with respect to writes. Those
	// messages stay readable through the snapshot even if they are
	// removed or replaced later. Under the sync policies that hold
	// readers back until writes are durable, it returns once every
	// message of the snapshot is durable.
	//
	// Cost: one walk of the index, in chunks of 1024 entries under the
	// read lock, released in between, so appends wait for one chunk at
	// most (literal filters are map lookups); 8 bytes per captured
	// message not yet returned by Next (16 for a memory stream), counted
	// against the Store's Options.MaxSnapshotEntries: a capture that
	// would pass it fails with ErrSnapshotBudget. A file stream's
	// snapshot also holds a Pebble snapshot, which keeps compactions
	// from dropping the versions it sees, until Next has read its last
	// message; a memory stream's holds the messages themselves. Close it
	// as soon as it is delivered.
	SnapshotLastPerSubject(filters []string) (Snapshot, error)
}

var _ Snapshotter = (*stream)(nil)

// snapshotReadChunk is how many messages one Pebble iterator reads at
// most, and snapshotReadBytes how many bytes of payload: the read-ahead
// of a snapshot being delivered stays small whatever the values' size.
const (
	snapshotReadChunk = 256
	snapshotReadBytes = 1 << 20
)

type snapshot struct {
	s    *stream
	upTo uint64

	mu     sync.Mutex // Next against Close and the stream closing
	seqs   []uint64   // still to return
	msgs   []*Msg     // memory streams (never nil): the messages of seqs
	pebble *pebbleBackend
	pin    *pebble.Snapshot // file streams; nil once seqs is read or closed
	buf    []*Msg           // file streams: read ahead of seqs
	closed bool
	// budget is the Store's snapshot budget, and charged how many
	// entries sn holds against it: len(seqs) plus the delivered entries
	// not yet given back (shrinkLocked).
	budget  *snapshotBudget
	charged int
}

func (sn *snapshot) LastSeq() uint64 { return sn.upTo }

func (sn *snapshot) Remaining() int {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	return len(sn.buf) + len(sn.seqs)
}

func (sn *snapshot) Next() (*Msg, error) {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if sn.closed {
		return nil, ErrClosed
	}
	if sn.msgs != nil {
		if len(sn.seqs) == 0 {
			return nil, ErrNotFound
		}
		m := sn.msgs[0]
		sn.msgs[0] = nil // the message may be gone from the stream
		sn.seqs, sn.msgs = sn.seqs[1:], sn.msgs[1:]
		sn.shrinkLocked()
		return m, nil
	}
	if len(sn.buf) == 0 {
		if len(sn.seqs) == 0 {
			return nil, ErrNotFound
		}
		if err := sn.readLocked(); err != nil {
			sn.closeLocked()
			return nil, err
		}
		sn.shrinkLocked()
	}
	m := sn.buf[0]
	sn.buf[0] = nil
	sn.buf = sn.buf[1:]
	return m, nil
}

// shrinkLocked gives the delivered entries back to the budget, copying
// the list to free their memory, once there are at least as many of
// them as entries left (and snapshotShrinkMin): each entry is copied at
// most once on average.
func (sn *snapshot) shrinkLocked() {
	left := len(sn.seqs)
	delivered := sn.charged - left
	if delivered < snapshotShrinkMin || delivered < left {
		return
	}
	sn.seqs = slices.Clone(sn.seqs)
	if sn.msgs != nil {
		sn.msgs = append(make([]*Msg, 0, left), sn.msgs...)
	}
	sn.budget.release(delivered)
	sn.charged = left
}

// readLocked reads the next chunk of seqs from the Pebble snapshot into
// buf.
func (sn *snapshot) readLocked() error {
	n := min(len(sn.seqs), snapshotReadChunk)
	chunk := sn.seqs[:n]
	be := sn.pebble
	it, err := sn.pin.NewIter(&pebble.IterOptions{
		LowerBound: msgKey(be.id, chunk[0]),
		UpperBound: msgKey(be.id, chunk[n-1]+1),
	})
	if err != nil {
		return be.readErr(chunk[0], err)
	}
	defer it.Close()
	buf := sn.buf[:0]
	key := make([]byte, 0, 13)
	size := 0
	for _, seq := range chunk {
		if size >= snapshotReadBytes {
			break
		}
		key = appendMsgKey(key[:0], be.id, seq)
		if !it.SeekGE(key) || string(it.Key()) != string(key) {
			if err := it.Error(); err != nil {
				return be.readErr(seq, err)
			}
			// The index listed it when the snapshot was taken, and the
			// snapshot sees every write made until then.
			return corruptf(be.name, errors.New("message missing from its snapshot"), "message %d", seq)
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return be.readErr(seq, err)
		}
		m, err := be.decode(seq, v, "")
		if err != nil {
			return err
		}
		buf = append(buf, m)
		size += len(m.Header) + len(m.Data)
	}
	sn.buf, sn.seqs = buf, sn.seqs[len(buf):]
	if len(sn.seqs) == 0 {
		// Everything is read: let compactions go on.
		sn.releasePinLocked()
	}
	return nil
}

func (sn *snapshot) releasePinLocked() {
	if sn.pin != nil {
		_ = sn.pin.Close() // only fails on a closed database, which waits for us
		sn.pin = nil
	}
}

func (sn *snapshot) Close() {
	sn.mu.Lock()
	sn.closeLocked()
	sn.mu.Unlock()
	openSnapshots.remove(sn)
}

func (sn *snapshot) closeLocked() {
	if sn.closed {
		return
	}
	sn.closed = true
	sn.releasePinLocked()
	sn.seqs, sn.msgs, sn.buf = nil, nil, nil
	sn.budget.release(sn.charged)
	sn.charged = 0
}

// openSnapshots tracks the open snapshots of each stream, so that
// closing a stream (deleting it, closing the Store) releases them
// before the database closes: Pebble refuses to close with snapshots
// open.
var openSnapshots snapshotRegistry

type snapshotRegistry struct {
	mu        sync.Mutex
	byStream  map[*stream]map[*snapshot]struct{}
	capturing map[*stream][]*capture // captures in progress
}

func (r *snapshotRegistry) startCapture(s *stream, c *capture) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.capturing == nil {
		r.capturing = make(map[*stream][]*capture)
	}
	r.capturing[s] = append(r.capturing[s], c)
	capturesRunning.Add(1)
}

func (r *snapshotRegistry) endCapture(s *stream, c *capture) {
	r.mu.Lock()
	defer r.mu.Unlock()
	caps := slices.DeleteFunc(r.capturing[s], func(x *capture) bool { return x == c })
	if len(caps) == 0 {
		delete(r.capturing, s)
	} else {
		r.capturing[s] = caps
	}
	capturesRunning.Add(-1)
}

// captures returns the captures in progress on s; the caller holds s's
// write lock.
func (r *snapshotRegistry) captures(s *stream) []*capture {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.capturing[s])
}

func (r *snapshotRegistry) add(sn *snapshot) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byStream == nil {
		r.byStream = make(map[*stream]map[*snapshot]struct{})
	}
	set := r.byStream[sn.s]
	if set == nil {
		set = make(map[*snapshot]struct{})
		r.byStream[sn.s] = set
	}
	set[sn] = struct{}{}
}

func (r *snapshotRegistry) remove(sn *snapshot) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if set := r.byStream[sn.s]; set != nil {
		delete(set, sn)
		if len(set) == 0 {
			delete(r.byStream, sn.s)
		}
	}
}

// closeSnapshots releases every open snapshot of s; called when s
// closes.
func (s *stream) closeSnapshots() {
	openSnapshots.mu.Lock()
	set := openSnapshots.byStream[s]
	delete(openSnapshots.byStream, s)
	openSnapshots.mu.Unlock()
	for sn := range set {
		sn.mu.Lock()
		sn.closeLocked()
		sn.mu.Unlock()
	}
}
