package store

import (
	"bytes"
	"fmt"
	"slices"
	"time"
)

func (s *stream) Append(subject string, hdr, data []byte, opts AppendOpts) (AppendResult, error) {
	if !validSubject(subject) {
		return AppendResult{}, fmt.Errorf("%w: %q", ErrInvalidSubject, subject)
	}
	if opts.ExpectedStream != "" && opts.ExpectedStream != s.name {
		return AppendResult{}, ErrWrongStream
	}
	s.mu.Lock()
	res, ws, err := s.appendLocked(subject, hdr, data, opts)
	if err == nil && res.Duplicate && opts.Applied > 0 {
		// A duplicate is the entry's outcome: record its index alone.
		ws = s.scratchLocked()
	}
	if err != nil || (res.Duplicate && ws == nil) {
		// A refusal or a duplicate tells what it saw (the original's
		// sequence, the actual last sequence): like a read, it waits
		// until that is durable.
		ticket := s.unsettled
		s.mu.Unlock()
		if opts.NoWait {
			return res, err
		}
		if werr := s.st.durable(ticket); werr != nil {
			return AppendResult{}, fmt.Errorf("store: stream %s: sync: %w", s.name, werr)
		}
		return res, err
	}
	ws.applied = opts.Applied
	wait, err := s.applyLocked(ws)
	s.mu.Unlock()
	if err != nil {
		return AppendResult{}, err
	}
	if wait != nil && opts.NoWait {
		s.deferred.Lock()
		s.deferred.waits = append(s.deferred.waits, wait)
		s.deferred.Unlock()
	} else if wait != nil {
		if err := wait(); err != nil {
			return AppendResult{}, fmt.Errorf("store: stream %s: sync: %w", s.name, err)
		}
	}
	if !res.Duplicate {
		s.deliver(res.Seq)
	}
	return res, nil
}

// appendLocked checks an append and applies it to the index, returning
// the write set to persist.
func (s *stream) appendLocked(subject string, hdr, data []byte, opts AppendOpts) (AppendResult, *writeSet, error) {
	if err := s.drivenCheckLocked(opts.Applied, opts.Time == 0); err != nil {
		return AppendResult{}, nil, err
	}
	if s.lastSeq >= MaxSeq {
		return AppendResult{}, nil, ErrSeqOverflow
	}
	cfg := &s.cfg
	if opts.TTL != 0 && !cfg.AllowMsgTTL {
		return AppendResult{}, nil, ErrMsgTTLDisabled
	}
	if opts.HasExpectedLastSubjSeq {
		check := subject
		if opts.ExpectedLastSubjSeqSubject != "" {
			check = opts.ExpectedLastSubjSeqSubject
			if !validFilter(check) {
				return AppendResult{}, nil, ErrInvalidSubject
			}
		}
		if last := s.ix.lastSeqMatching(check); last != opts.ExpectedLastSubjSeq {
			return AppendResult{}, nil, &WrongSequenceError{Kind: ErrWrongLastSubjectSequence, Last: last}
		}
	}
	if opts.HasExpectedLastSeq && opts.ExpectedLastSeq != s.lastSeq {
		return AppendResult{}, nil, &WrongSequenceError{Kind: ErrWrongLastSequence, Last: s.lastSeq}
	}
	now := s.timeFor(opts.Time)
	if opts.MsgID != "" && cfg.DuplicateWindow > 0 {
		if seq, ok := s.dedupLookupLocked(opts.MsgID, now); ok {
			return AppendResult{Seq: seq, Duplicate: true}, nil, nil
		}
	}
	if cfg.MaxMsgSize > 0 && int64(len(hdr))+int64(len(data)) > int64(cfg.MaxMsgSize) {
		return AppendResult{}, nil, ErrMaxMsgSize
	}
	size := s.msgSize(subject, hdr, data)
	if size > 1<<32-1 {
		return AppendResult{}, nil, ErrMaxMsgSize
	}
	if err := s.checkDiscardNew(subject, size, opts.Rollup); err != nil {
		return AppendResult{}, nil, err
	}

	ws := s.scratchLocked()
	m := &Msg{Subject: subject, Seq: s.lastSeq + 1, Time: max(now, s.lastTime)}
	if len(hdr) > 0 {
		m.Header = slices.Clone(hdr)
	}
	m.Data = slices.Clone(data)
	if m.Data == nil {
		m.Data = []byte{}
	}
	s.addLocked(ws, m, opts.TTL, opts.MsgID, size)
	switch opts.Rollup {
	case RollupSubject:
		ss := s.ix.lookup(subject)
		for ss.count() > 1 {
			s.removeSeqLocked(ws, ss.seqs()[0])
		}
	case RollupAll:
		for f := s.ix.first(); f != nil && f.seq < m.Seq; f = s.ix.first() {
			s.removeAtLocked(ws, s.ix.head)
		}
		ws.delBelow = m.Seq
	}
	s.enforceLimitsLocked(ws, subject)
	return AppendResult{Seq: m.Seq, Time: m.Time}, ws, nil
}

// checkDiscardNew applies the DiscardNew limits the way nats-server's
// stores do: a subject at its per-subject limit replaces its oldest
// message, so it may exceed MaxMsgs, and MaxBytes if the replaced
// message is at least as large.
func (s *stream) checkDiscardNew(subject string, size uint64, rollup Rollup) error {
	cfg := &s.cfg
	if cfg.Discard != DiscardNew {
		return nil
	}
	ss := s.ix.lookup(subject)
	atLimit := ss != nil && cfg.MaxMsgsPerSubject > 0 && int64(ss.count()) >= cfg.MaxMsgsPerSubject
	if atLimit && cfg.DiscardNewPerSubject && rollup == RollupNone {
		return ErrMaxMsgsPerSubject
	}
	if cfg.MaxMsgs > 0 && s.ix.msgs >= uint64(cfg.MaxMsgs) && !atLimit {
		return ErrMaxMsgs
	}
	if cfg.MaxBytes > 0 && s.ix.bytes+size > uint64(cfg.MaxBytes) {
		if !atLimit {
			return ErrMaxBytes
		}
		if p := s.ix.pos(ss.seqs()[0]); p < 0 || uint64(s.ix.entries[p].size) < size {
			return ErrMaxBytes
		}
	}
	return nil
}

// addLocked indexes a new message and adds it to the write set and the
// delivery queue. m.Seq must be lastSeq+1.
func (s *stream) addLocked(ws *writeSet, m *Msg, ttl time.Duration, msgID string, size uint64) {
	var flags uint8
	if ttl < 0 {
		flags |= entryNeverExpire
	}
	if isDeleteMarker(m.Header) {
		flags |= entryDeleteMarker
	}
	s.ix.add(m.Subject, entry{seq: m.Seq, time: m.Time, size: uint32(size), flags: flags})
	s.lastSeq, s.lastTime = m.Seq, m.Time
	s.trackTTLLocked(m.Seq, m.Time, ttl)
	if s.cfg.MaxAge > 0 && ttl >= 0 && !s.driven {
		s.st.hintDeadline(deadline(m.Time, s.cfg.MaxAge))
	}
	if msgID != "" && s.cfg.DuplicateWindow > 0 {
		s.dedup.add(msgID, m.Seq, m.Time)
		if s.driven {
			ws.idPuts = append(ws.idPuts, dedupPut{id: msgID, seq: m.Seq, time: m.Time})
		}
	}
	ws.puts = append(ws.puts, putMsg{msg: m, ttl: ttl, msgID: msgID})
	s.pending = append(s.pending, m)
}

// enforceLimitsLocked applies the per-subject limit to subject (all
// subjects if subject is "") and the DiscardOld limits.
func (s *stream) enforceLimitsLocked(ws *writeSet, subject string) {
	cfg := &s.cfg
	if max := cfg.MaxMsgsPerSubject; max > 0 {
		trim := func(ss *subjectState) {
			for int64(ss.count()) > max {
				s.removeSeqLocked(ws, ss.seqs()[0])
			}
		}
		if subject != "" {
			if ss := s.ix.lookup(subject); ss != nil {
				trim(ss)
			}
		} else {
			var over []*subjectState
			s.ix.eachSubject("", func(ss *subjectState) {
				if int64(ss.count()) > max {
					over = append(over, ss)
				}
			})
			for _, ss := range over {
				trim(ss)
			}
		}
	}
	if cfg.Discard != DiscardOld {
		return
	}
	for cfg.MaxMsgs > 0 && s.ix.msgs > uint64(cfg.MaxMsgs) {
		s.removeAtLocked(ws, s.ix.head)
	}
	for cfg.MaxBytes > 0 && s.ix.bytes > uint64(cfg.MaxBytes) {
		s.removeAtLocked(ws, s.ix.head)
	}
}

// removeSeqLocked removes the live message seq.
func (s *stream) removeSeqLocked(ws *writeSet, seq uint64) (entry, bool) {
	return s.removeAtLocked(ws, s.ix.pos(seq))
}

// removeAtLocked removes the live entry at position p of the index and
// records the deletion in ws. It returns the removed entry and whether
// its subject has no message left.
func (s *stream) removeAtLocked(ws *writeSet, p int) (entry, bool) {
	s.noteRemovalLocked(p)        // snapshot_capture.go
	s.noteReplicaRemovalLocked(p) // replica_read.go
	e, emptied := s.ix.removeAt(p)
	if e.flags&entryTTL != 0 {
		s.ttls.dead++
	}
	ws.dels = append(ws.dels, e.seq)
	if e.seq == s.lastSeq {
		ws.tail = true
	}
	return e, emptied
}

// applyLocked persists ws and finishes the index update. It returns the
// function that waits, to be called outside mu, until the write is
// durable under the sync policy (nil if there is nothing to wait for);
// an operation is acknowledged only after it. On a backend failure the
// stream stops accepting operations: its index may be ahead of what is
// stored, and reopening the Store rebuilds it from the disk.
func (s *stream) applyLocked(ws *writeSet) (func() error, error) {
	s.ix.maybeCompact()
	s.compactTTLsLocked()
	if ws.empty() {
		// Nothing to write, but the caller reports what it saw (a purge
		// that found nothing): it waits for the writes it saw.
		return s.settleLocked(), nil
	}
	if ws.tail {
		ws.lastSeq, ws.lastTime = s.lastSeq, s.lastTime
	}
	ticket, wait, err := s.be.apply(ws)
	if err != nil {
		s.failed = fmt.Errorf("store: stream %s: write failed, reopen the store: %w", s.name, err)
		s.pending = nil
		return nil, s.failed
	}
	if ticket != 0 {
		// Readers that look from now on wait for this write too.
		s.unsettled = ticket
	}
	if ws.applied > 0 {
		s.applied = ws.applied
	}
	return wait, nil
}

// settleLocked returns the function that waits until every write
// applied to the stream so far is durable (nil if there is none to wait
// for), for a caller that reports what it saw without writing.
func (s *stream) settleLocked() func() error {
	t := s.unsettled
	if t == 0 {
		return nil
	}
	return func() error { return s.st.durable(t) }
}

// isDeleteMarker reports whether a header marks a subject delete marker:
// a Nats-Marker-Reason header, or KV-Operation: PURGE (as nats-server
// decides; ADR-43, ADR-48).
func isDeleteMarker(hdr []byte) bool {
	if len(hdr) == 0 {
		return false
	}
	return len(headerValue(hdr, "Nats-Marker-Reason")) > 0 ||
		bytes.Equal(headerValue(hdr, "KV-Operation"), []byte("PURGE"))
}

// headerValue returns the value of the first header line "key: value"
// in a raw NATS header block, or nil. Keys match exactly, as in
// nats-server.
func headerValue(hdr []byte, key string) []byte {
	for len(hdr) > 0 {
		i := bytes.Index(hdr, []byte("\r\n"))
		line := hdr
		if i >= 0 {
			line, hdr = hdr[:i], hdr[i+2:]
		} else {
			hdr = nil
		}
		if len(line) > len(key) && string(line[:len(key)]) == key && line[len(key)] == ':' {
			return bytes.TrimSpace(line[len(key)+1:])
		}
	}
	return nil
}

// Settler is a stream whose NoWait appends are settled by its caller.
type Settler interface {
	// Settle waits until every append made with AppendOpts.NoWait so
	// far is durable under the sync policy (readers wait for that
	// too), and returns the sync's error. The caller of NoWait appends
	// must call it, once after a batch of them: until then readers of
	// the stream wait.
	Settle() error
}

var _ Settler = (*stream)(nil)

// Settle implements Settler. The WAL is synced in order: once the
// oldest deferred write's wait returns, the later ones return at once.
func (s *stream) Settle() error {
	s.deferred.Lock()
	waits := s.deferred.waits
	s.deferred.waits = nil
	s.deferred.Unlock()
	var first error
	for _, w := range waits {
		if err := w(); err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return fmt.Errorf("store: stream %s: sync: %w", s.name, first)
	}
	return nil
}
