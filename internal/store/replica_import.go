package store

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// Importing a replica: the destination side of a catch-up
// (replica_header.go). A file stream is built as an Import builds one
// (import.go): messages go into a table file beside the database, with
// the applied index ("A") and the duplicate window ("I") written first,
// and Commit ingests the file with the stream record and tail in one
// atomic, durable step. A memory stream is built in memory. Either way
// nothing is visible before Commit, which then replaces the stream of
// that name:
//
//	NewReplicaImport(h)    validate h; file: reserve id 9, open import-9.tmp,
//	                       write A 9 (h.Applied), I 9 <id> for each id
//	Add(m)...              M 9 <seq>, checked against h; index built
//	Commit()               close KV_b (old handle: ErrClosed), drop it
//	                       durably, ingest import-9.tmp → KV_b is id 9
//
// Crash safety (file streams): before Commit drops the old stream, a
// crash leaves the old stream whole (and an import-9.tmp that the next
// Open deletes); between the drop and the ingestion, no stream of that
// name (the replica fetches it again); after, the new one whole. The
// ingested file is the only place the new stream's keys are, so it is
// never seen in part.

// ReplicaImport builds a stream from a ReplicaHeader and its messages.
// It is used by one goroutine; Abort may not be called concurrently
// with Add or Commit either.
type ReplicaImport struct {
	st   *Store
	h    ReplicaHeader
	s    *stream     // not registered until Commit
	file *Import     // file streams
	mem  *memBackend // memory streams
	n    uint64      // messages added
	last uint64      // sequence of the last message added
	done bool
}

// NewReplicaImport starts building the stream h describes, in the
// storage h.Config.Storage (which may differ from the source's: the
// caller may change it). h is validated (ErrBadReplicaHeader, see
// ReplicaHeader.Validate); a file stream needs a store directory
// (ErrInvalidConfig). A stream of the same name may exist: it is
// untouched until Commit. The caller must Commit or Abort.
func (st *Store) NewReplicaImport(h ReplicaHeader) (*ReplicaImport, error) {
	if err := h.Validate(); err != nil {
		return nil, err
	}
	h.Config, h.Meta, h.IDs = cloneConfig(h.Config), slices.Clone(h.Meta), slices.Clone(h.IDs)
	ri := &ReplicaImport{st: st, h: h}
	if h.Config.Storage == MemoryStorage {
		st.mu.Lock()
		closed := st.mu.closed
		st.mu.Unlock()
		if closed {
			return nil, ErrClosed
		}
		ri.mem = newMemBackend()
		ri.s = newStream(st, h.Config, h.Meta, ri.mem)
		return ri, nil
	}
	im, err := st.newImport(h.Config, h.Meta, true)
	if err != nil {
		return nil, err
	}
	im.noIDs = true
	// The table's keys ascend: "A", then "I" by id, before "M".
	if err := ri.writeHead(im); err != nil {
		im.Abort()
		return nil, err
	}
	ri.file, ri.s = im, im.s
	return ri, nil
}

// writeHead writes the applied index and a driven stream's duplicate
// window to the import's table file.
func (ri *ReplicaImport) writeHead(im *Import) error {
	if ri.h.Applied > 0 {
		if err := im.w.Set(appliedKey(im.id), binary.BigEndian.AppendUint64(nil, ri.h.Applied)); err != nil {
			return fmt.Errorf("store: importing stream %s: %w", ri.h.Config.Name, err)
		}
	}
	if !ri.h.Config.Driven {
		return nil // other streams keep their window in memory
	}
	ids := slices.SortedFunc(slices.Values(ri.h.IDs), func(a, b ReplicaID) int { return cmp.Compare(a.ID, b.ID) })
	var k, v []byte
	for _, id := range ids {
		k = appendDedupKey(k[:0], im.id, id.ID)
		v = binary.BigEndian.AppendUint64(v[:0], id.Seq)
		v = binary.BigEndian.AppendUint64(v, uint64(id.Time))
		if err := im.w.Set(k, v); err != nil {
			return fmt.Errorf("store: importing stream %s: %w", ri.h.Config.Name, err)
		}
	}
	return nil
}

// Add adds the next message. Sequences must ascend (ErrImportOrder), and
// the messages must be those the header announced (ErrBadReplicaHeader):
// the first at FirstSeq, every one within [FirstSeq, LastSeq], with a
// time at most LastTime, no more than Msgs of them. The subject must be
// a valid literal subject (ErrInvalidSubject). Times are kept as given
// (the index raises one below its predecessor's, as a load does, so the
// destination indexes what the source does); limits are not applied.
// m is copied.
func (ri *ReplicaImport) Add(m ExportedMsg) error {
	h := &ri.h
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: stream %q: message %d: %s", ErrBadReplicaHeader, h.Config.Name, m.Seq, fmt.Sprintf(format, args...))
	}
	switch {
	case ri.done:
		return ErrClosed
	case ri.n > 0 && m.Seq <= ri.last:
		return fmt.Errorf("%w: %d after %d", ErrImportOrder, m.Seq, ri.last)
	case ri.n >= h.Msgs:
		return bad("more than the %d announced", h.Msgs)
	case m.Seq < h.FirstSeq || m.Seq > h.LastSeq:
		return bad("outside sequences %d to %d", h.FirstSeq, h.LastSeq)
	case ri.n == 0 && m.Seq != h.FirstSeq:
		return bad("first, not at the first sequence %d", h.FirstSeq)
	case m.Time > h.LastTime:
		return bad("time %d after the last %d", m.Time, h.LastTime)
	}
	if ri.file != nil {
		if err := ri.file.Add(m); err != nil {
			return err
		}
	} else if err := ri.addMem(m); err != nil {
		return err
	}
	ri.n, ri.last = ri.n+1, m.Seq
	return nil
}

// addMem stores and indexes one message of a memory stream.
func (ri *ReplicaImport) addMem(m ExportedMsg) error {
	if !validSubject(m.Subject) {
		return fmt.Errorf("%w: message %d: %q", ErrInvalidSubject, m.Seq, m.Subject)
	}
	msg := &Msg{Subject: m.Subject, Seq: m.Seq, Time: m.Time, Data: append([]byte{}, m.Data...)}
	if len(m.Header) > 0 {
		msg.Header = slices.Clone(m.Header)
	}
	ri.mem.put(msg, m.TTL, m.MsgID)
	r := record{time: msg.Time, ttl: m.TTL, subject: []byte(msg.Subject), header: msg.Header, data: msg.Data}
	ri.s.indexRecovered(ri.s.recovered(m.Seq, r), r.subject, nil, 0)
	return nil
}

// Commit makes the stream exist as the header and messages describe
// it: the same config, meta, Applied(), duplicate window, first and
// last sequence, last time, messages (with their TTLs and ids),
// subjects and gaps as the source had at the read. It fails with
// ErrBadReplicaHeader if fewer messages than Msgs were added (and
// aborts).
//
// It replaces the stream of that name, if any, whatever its storage:
// that stream is closed and deleted as by Store.DeleteStream, so every
// handle to it returns ErrClosed afterwards, its snapshots, exports and
// replica reads end, and its subscribers are not carried over; the
// caller uses the Stream returned. For a file stream the old one is
// dropped durably before the new one is ingested (see above): if the
// ingestion fails, or the process crashes in between, the name has no
// stream and the replica must fetch it again. After a failed Commit
// the import is aborted.
func (ri *ReplicaImport) Commit() (Stream, error) {
	if ri.done {
		return nil, ErrClosed
	}
	h := &ri.h
	if ri.n != h.Msgs {
		ri.Abort()
		return nil, fmt.Errorf("%w: stream %q: %d messages of the %d announced", ErrBadReplicaHeader, h.Config.Name, ri.n, h.Msgs)
	}
	s := ri.s
	s.lastSeq, s.lastTime = h.LastSeq, h.LastTime
	s.applied = h.Applied
	ids := make([]dedupPut, len(h.IDs))
	for i, id := range h.IDs {
		ids[i] = dedupPut{id: id.ID, seq: id.Seq, time: id.Time}
	}
	s.loadDedup(ids)
	if ri.file != nil {
		ri.done = true
		return ri.file.finish()
	}
	st := ri.st
	st.mu.Lock()
	if st.mu.closed {
		st.mu.Unlock()
		ri.Abort()
		return nil, ErrClosed
	}
	var err error
	if old := st.mu.streams[s.name]; old != nil {
		old.close()
		err = old.be.drop()
		delete(st.mu.streams, s.name)
	}
	if err == nil {
		st.mu.streams[s.name] = s
	}
	st.mu.Unlock()
	ri.done = true
	if err != nil {
		return nil, fmt.Errorf("store: replacing stream %s: %w", s.name, err)
	}
	st.hintDeadline(math.MinInt64)
	return s, nil
}

// Abort discards the import; the stream of that name, if any, is
// untouched. It is idempotent, and does nothing after Commit.
func (ri *ReplicaImport) Abort() {
	if ri.done {
		return
	}
	ri.done = true
	if ri.file != nil {
		ri.file.Abort()
	}
	ri.mem, ri.s = nil, nil
}

// Header returns a copy of the header the import was started with.
func (ri *ReplicaImport) Header() ReplicaHeader {
	h := ri.h
	h.Config, h.Meta, h.IDs = cloneConfig(h.Config), slices.Clone(h.Meta), slices.Clone(h.IDs)
	return h
}
