package store

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Driven streams (Config.Driven) are the replicas of a replicated
// stream: every replica applies the same committed log entries to its
// own store, and must end with the same messages, sequences,
// timestamps, deletions and markers. So nothing a driven stream stores
// may come from the replica's own clock or from when its expiry
// goroutine happened to run:
//
//   - every append carries its time (AppendOpts.Time, BatchOpts.Time;
//     ErrNoTime without one), the leader's, taken when it proposed the
//     entry; it is the message's timestamp (raised to the last one)
//     and the now of the duplicate window;
//   - the expiry goroutine never looks at the stream, and appends and
//     config updates give it no hints; expiry (MaxAge, per-message
//     TTLs, subject delete markers, the duplicate window) happens only
//     in ExpireAt(now), an entry of its own whose now the leader chose;
//   - every mutation can carry the index of its log entry (Applied),
//     written in the same atomic write as the mutation, so that after
//     a crash Applied() tells exactly which entries are in the store and
//     a replayed entry is refused with ErrAlreadyApplied instead of
//     applied twice;
//   - the duplicate window is persisted ("I" records, keys.go) and
//     forgotten only by ExpireAt, so a replica that restarted remembers
//     the ids one that did not remembers.
//
// Worked example, a leader and a follower applying entries 7..9:
//
//	s.Append("$KV.b.k", nil, v, AppendOpts{Time: t7, Applied: 7}) // seq 41 at t7
//	s.ExpireAt(t8, 8)   // removes what MaxAge/TTL make due at t8, may add markers at t8
//	s.SetApplied(9)     // entry 9 changed nothing in this stream
//	// crash, restart: Applied() == 9 if entry 9's write was durable,
//	// else 8; the replica resumes with the next entry, and an entry
//	// handed in again fails with ErrAlreadyApplied.

// drivenCheckLocked returns the error that stops a mutation: the
// stream is unusable, its log index was applied already, or a driven
// stream's append has no explicit time (noTime).
func (s *stream) drivenCheckLocked(applied uint64, noTime bool) error {
	// One test on the hot path, inlined; the refusal is worked out apart.
	if s.closed || s.failed != nil || (applied > 0 && applied <= s.applied) || (noTime && s.driven) {
		return s.refusalLocked(applied, noTime)
	}
	return nil
}

// refusalLocked returns the error drivenCheckLocked found.
func (s *stream) refusalLocked(applied uint64, noTime bool) error {
	if err := s.usableLocked(); err != nil {
		return err
	}
	if applied > 0 && applied <= s.applied {
		return fmt.Errorf("%w: index %d, stream %s applied %d", ErrAlreadyApplied, applied, s.name, s.applied)
	}
	if noTime && s.driven {
		return ErrNoTime
	}
	return nil
}

// Applied returns the index of the last replicated log entry applied to
// the stream (0: none). For a file stream it is what the disk holds:
// after a restart, the index of the last durable write that carried
// one.
func (s *stream) Applied() uint64 {
	s.mu.RLock()
	defer s.runlockSettled(nil)
	return s.applied
}

// SetApplied records index as applied without changing anything else,
// for a log entry that does not change this stream. It fails with
// ErrAlreadyApplied if index is not above Applied().
func (s *stream) SetApplied(index uint64) error {
	if index == 0 {
		return fmt.Errorf("%w: log index 0", ErrInvalidConfig)
	}
	s.mu.Lock()
	if err := s.drivenCheckLocked(index, false); err != nil {
		s.mu.Unlock()
		return err
	}
	ws := s.scratchLocked()
	ws.applied = index
	wait, err := s.applyLocked(ws)
	s.mu.Unlock()
	return waitErr(s.name, wait, err)
}

// ExpireAt runs one expiry pass at now (Unix ns) in one atomic write,
// with the log index applied (0: none): it removes the messages whose
// MaxAge or per-message TTL is due at now, appends the subject delete
// markers that leaves due (timestamped max(now, last timestamp)),
// forgets the message ids that fell out of the duplicate window, and
// enforces the limits. The result depends only on now and the
// stream's contents. It returns the earliest deadline left: a
// message's MaxAge or TTL, or the oldest remembered id leaving the
// duplicate window (never: math.MaxInt64), also a function of the
// contents only, so every replica returns the same. Unlike the
// background passes, one call is not bounded in the removals it makes.
// It works on any stream; only a driven stream is free of the
// background passes.
func (s *stream) ExpireAt(now int64, applied uint64) (next int64, err error) {
	s.mu.Lock()
	if err := s.drivenCheckLocked(applied, false); err != nil {
		s.mu.Unlock()
		return never, err
	}
	ws := s.scratchLocked()
	next, _ = s.expireLocked(ws, now, math.MaxInt)
	if w := int64(s.cfg.DuplicateWindow); w > 0 {
		s.dedup.forget(subSat(max(now, s.lastTime), w), &ws.idDels)
		if t, ok := s.dedup.oldest(); ok {
			next = min(next, addSat(t, w))
		}
	} else {
		s.dedup.forget(never, &ws.idDels) // no window: nothing to remember
	}
	var maxSeq uint64
	if n := len(ws.puts); n > 0 {
		maxSeq = ws.puts[n-1].msg.Seq
	}
	ws.applied = applied
	wait, err := s.applyLocked(ws)
	s.mu.Unlock()
	if err = waitErr(s.name, wait, err); err != nil {
		return never, err
	}
	if maxSeq > 0 {
		s.deliver(maxSeq)
	}
	return next, nil
}

// dedupLookupLocked looks id up in the duplicate window at now. A
// driven stream forgets ids only in ExpireAt, whose write deletes them
// from the disk too, so that a replica that restarts remembers exactly
// what one that did not remembers.
func (s *stream) dedupLookupLocked(id string, now int64) (uint64, bool) {
	if s.driven {
		return s.dedup.peek(id, now, s.cfg.DuplicateWindow)
	}
	return s.dedup.lookup(id, now, s.cfg.DuplicateWindow)
}

// loadDedup fills a driven stream's duplicate window from its
// persisted ids (load), oldest first, as they were added.
func (s *stream) loadDedup(ids []dedupPut) {
	slices.SortFunc(ids, func(a, b dedupPut) int {
		return cmp.Or(cmp.Compare(a.time, b.time), cmp.Compare(a.seq, b.seq))
	})
	for _, p := range ids {
		s.dedup.add(p.id, p.seq, p.time)
	}
}

// finishRecoveryLocked runs once an imported stream's messages are
// indexed. A driven stream's duplicate window was rebuilt from every
// stored id (indexRecovered): it keeps those within the window of its
// last timestamp, a cutoff that depends on the stream, not on when the
// import ran. (Import does not carry them: docs/STORE.md, "Driven
// streams"; a ReplicaImport takes the window from its header instead.)
func (s *stream) finishRecoveryLocked() {
	if w := s.cfg.DuplicateWindow; s.driven && w > 0 {
		s.dedup.forget(subSat(s.lastTime, int64(w)), nil)
	}
}
