package store

import (
	"fmt"
	"io"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Exports: a whole file stream as of one sequence, for backups. An
// Export pins the stream's last sequence L and a Pebble snapshot under
// one hold of the stream's read lock, so what it returns is exactly the
// stream at L, however the stream changes while the export is read:
//
//	stream: a=1 (seq 1)  b=2 (seq 2)  del 1  a=3 (seq 3)    L = 3
//	export: state {first 2, last 3, msgs 2}; Next → 2, 3, io.EOF
//	meanwhile: a=4 (seq 4), purge        (not seen by the export)
//
// It reads the snapshot in bounded chunks (exportReadChunk messages or
// exportReadBytes bytes per iterator), so its memory does not grow with
// the stream. Import (import.go) is the way back. Neither carries the
// applied index or a driven stream's persisted duplicate window: a
// replica's catch-up uses ReadReplica and NewReplicaImport
// (replica_header.go), which do, for memory streams too.

// exportReadChunk and exportReadBytes bound one read of an export.
const (
	exportReadChunk = 256
	exportReadBytes = 1 << 20
)

// ExportedMsg is one message of an export or an import, with what the
// store keeps beside it.
type ExportedMsg struct {
	Msg
	// TTL is the per-message TTL the message was appended with (0
	// none, < 0 never expire), as AppendOpts.TTL.
	TTL time.Duration
	// MsgID is its Nats-Msg-Id, remembered for de-duplication.
	MsgID string
}

// Export is a point-in-time read of a whole file stream. It is used by
// one goroutine at a time; Close may be called from any goroutine, and
// deleting the stream or closing the Store releases it too (Next then
// returns ErrClosed).
type Export struct {
	sn    *snapshot // its pin, pebble backend and registration
	cfg   Config
	meta  []byte
	state State
	next  uint64 // sequence to read from
	buf   []ExportedMsg
}

// Export starts an export of the named file stream at its current last
// sequence. It fails with ErrStreamNotFound, with ErrInvalidConfig for a
// memory stream (which has no snapshot to read from), and ErrClosed. It
// returns once every message of the export is durable under the sync
// policy. The caller must Close it.
func (st *Store) Export(name string) (*Export, error) {
	str, err := st.Stream(name)
	if err != nil {
		return nil, err
	}
	s := str.(*stream)
	be, ok := s.be.(*pebbleBackend)
	if !ok {
		return nil, fmt.Errorf("%w: stream %s: memory streams cannot be exported", ErrInvalidConfig, name)
	}
	s.mu.RLock()
	if err := s.usableLocked(); err != nil {
		s.mu.RUnlock()
		return nil, err
	}
	ex := s.pinExportLocked(be)
	durable := s.durableTicketLocked()
	s.mu.RUnlock()
	if err := durable(); err != nil {
		ex.Close()
		return nil, fmt.Errorf("store: stream %s: sync: %w", name, err)
	}
	return ex, nil
}

// pinExportLocked starts an export of s at its last sequence; the
// caller holds the read lock and waits for durability itself.
func (s *stream) pinExportLocked(be *pebbleBackend) *Export {
	sn := &snapshot{s: s, upTo: s.lastSeq, budget: s.st.snapBudget, pebble: be, pin: be.st.db.NewSnapshot()}
	// Registered under the lock, so that closing the stream (which
	// takes it first) releases the pin.
	openSnapshots.add(sn)
	ex := &Export{sn: sn, cfg: cloneConfig(s.cfg), meta: append([]byte(nil), s.meta...), state: s.stateLocked()}
	if f := s.ix.first(); f != nil {
		ex.next = f.seq
	} else {
		ex.next = s.lastSeq + 1
	}
	return ex
}

// stateLocked returns the counters, as State does; the caller holds the
// read lock and waits for durability itself.
func (s *stream) stateLocked() State {
	st := State{
		Msgs:        s.ix.msgs,
		Bytes:       s.ix.bytes,
		FirstSeq:    s.lastSeq + 1,
		LastSeq:     s.lastSeq,
		LastTime:    s.lastTime,
		NumSubjects: s.ix.nsubjects,
	}
	if s.lastSeq == 0 {
		st.FirstSeq = 0
	}
	if f := s.ix.first(); f != nil {
		st.FirstSeq, st.FirstTime = f.seq, f.time
		st.NumDeleted = int(st.LastSeq - st.FirstSeq + 1 - st.Msgs)
	}
	return st
}

// Config returns the stream's limits at the export's sequence.
func (ex *Export) Config() Config { return cloneConfig(ex.cfg) }

// Meta returns the stream's meta blob at the export's sequence. The
// caller must not modify it.
func (ex *Export) Meta() []byte { return ex.meta }

// State returns the stream's counters at the export's sequence: every
// message Next returns is counted there, and LastSeq is the export's
// sequence.
func (ex *Export) State() State { return ex.state }

// Next returns the next message in ascending sequence order, or io.EOF
// after the last one. It returns ErrClosed after Close or once the
// stream was deleted or the Store closed, and a read error (ErrCorrupt
// for damaged data) otherwise. The message is the caller's.
func (ex *Export) Next() (ExportedMsg, error) {
	if len(ex.buf) == 0 {
		if err := ex.read(); err != nil {
			return ExportedMsg{}, err
		}
	}
	m := ex.buf[0]
	ex.buf[0] = ExportedMsg{}
	ex.buf = ex.buf[1:]
	return m, nil
}

// read fills buf with the next chunk of the snapshot.
func (ex *Export) read() error {
	sn := ex.sn
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if sn.closed {
		return ErrClosed
	}
	if ex.next > sn.upTo {
		sn.releasePinLocked()
		return io.EOF
	}
	be := sn.pebble
	it, err := sn.pin.NewIter(&pebble.IterOptions{
		LowerBound: msgKey(be.id, ex.next),
		UpperBound: msgKey(be.id, sn.upTo+1),
	})
	if err != nil {
		return be.readErr(ex.next, err)
	}
	defer it.Close()
	buf, size := ex.buf[:0], 0
	for ok := it.First(); ok && len(buf) < exportReadChunk && size < exportReadBytes; ok = it.Next() {
		_, seq, valid := parseMsgKey(it.Key())
		if !valid {
			return corruptf(be.name, nil, "malformed message key %x", it.Key())
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return be.readErr(seq, err)
		}
		r, err := decodeRecord(v)
		if err != nil {
			return corruptf(be.name, err, "message %d", seq)
		}
		m := ExportedMsg{TTL: r.ttl, MsgID: string(r.msgID)}
		m.Msg = Msg{Subject: string(r.subject), Seq: seq, Time: r.time, Data: append([]byte{}, r.data...)}
		if len(r.header) > 0 {
			m.Header = append([]byte(nil), r.header...)
		}
		buf = append(buf, m)
		size += len(r.header) + len(r.data)
		ex.next = seq + 1
	}
	if err := it.Error(); err != nil {
		return be.readErr(ex.next, err)
	}
	if len(buf) == 0 {
		ex.next = sn.upTo + 1
		sn.releasePinLocked()
		return io.EOF
	}
	ex.buf = buf
	return nil
}

// Close releases the export; it is idempotent and may be called from
// any goroutine.
func (ex *Export) Close() { ex.sn.Close() }
