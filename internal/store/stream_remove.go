package store

import (
	"fmt"
	"slices"
)

func (s *stream) Delete(seq uint64) error { return s.DeleteApplied(seq, 0) }

func (s *stream) DeleteApplied(seq, applied uint64) error {
	s.mu.Lock()
	if err := s.drivenCheckLocked(applied, false); err != nil {
		s.mu.Unlock()
		return err
	}
	p := s.ix.pos(seq)
	if p < 0 {
		wait := s.settleLocked() // not found is something seen
		s.mu.Unlock()
		if err := waitErr(s.name, wait, nil); err != nil {
			return err
		}
		return ErrNotFound
	}
	ws := s.scratchLocked()
	s.removeAtLocked(ws, p)
	ws.applied = applied
	wait, err := s.applyLocked(ws)
	s.mu.Unlock()
	return waitErr(s.name, wait, err)
}

func waitErr(name string, wait func() error, err error) error {
	if err != nil || wait == nil {
		return err
	}
	if err := wait(); err != nil {
		return fmt.Errorf("store: stream %s: sync: %w", name, err)
	}
	return nil
}

func (s *stream) Purge(opts PurgeOpts) (uint64, error) {
	if !validFilter(opts.Subject) {
		return 0, ErrInvalidSubject
	}
	s.mu.Lock()
	if err := s.drivenCheckLocked(opts.Applied, false); err != nil {
		s.mu.Unlock()
		return 0, err
	}
	ws := s.scratchLocked()
	var n uint64
	if matchAll(opts.Subject) && opts.Keep == 0 {
		if opts.Seq > MaxSeq {
			s.mu.Unlock()
			return 0, ErrSeqOverflow
		}
		n = s.purgeBelowLocked(ws, opts.Seq)
	} else {
		n = s.purgeFilteredLocked(ws, opts)
	}
	ws.applied = opts.Applied
	wait, err := s.applyLocked(ws)
	s.mu.Unlock()
	return n, waitErr(s.name, wait, err)
}

// purgeBelowLocked removes every message below seq (all when seq is 0).
// A seq beyond the end moves the stream forward, as nats-server's
// compact does; the caller has checked that seq <= MaxSeq.
func (s *stream) purgeBelowLocked(ws *writeSet, seq uint64) uint64 {
	all := seq == 0
	if all {
		seq = s.lastSeq + 1 // 0 if lastSeq is MaxUint64 (a store from before MaxSeq)
	}
	var n uint64
	for f := s.ix.first(); f != nil && (all || f.seq < seq); f = s.ix.first() {
		s.removeAtLocked(ws, s.ix.head)
		n++
	}
	ws.delBelow = seq
	if seq > 0 && seq-1 > s.lastSeq {
		s.lastSeq = seq - 1
		ws.tail = true
	}
	return n
}

// purgeFilteredLocked removes the matching messages below opts.Seq,
// oldest first, keeping the opts.Keep newest matching ones.
func (s *stream) purgeFilteredLocked(ws *writeSet, opts PurgeOpts) uint64 {
	var seqs []uint64
	if !hasWildcard(opts.Subject) {
		if ss := s.ix.lookup(opts.Subject); ss != nil {
			seqs = slices.Clone(ss.seqs())
		}
	} else {
		// The matching subjects' messages, from the subject tree.
		s.ix.eachSubject(opts.Subject, func(ss *subjectState) {
			seqs = append(seqs, ss.seqs()...)
		})
		slices.Sort(seqs)
	}
	limit := uint64(len(seqs))
	if opts.Keep > 0 {
		if opts.Keep >= limit {
			return 0
		}
		limit -= opts.Keep
	}
	var n uint64
	for _, seq := range seqs {
		if n == limit || (opts.Seq > 0 && seq >= opts.Seq) {
			break
		}
		s.removeSeqLocked(ws, seq)
		n++
	}
	return n
}

func (s *stream) UpdateConfig(cfg Config, meta []byte) error {
	return s.UpdateConfigApplied(cfg, meta, 0)
}

func (s *stream) UpdateConfigApplied(cfg Config, meta []byte, applied uint64) error {
	if cfg.Name != s.name || cfg.Storage != s.stype || cfg.Driven != s.driven {
		return fmt.Errorf("%w: name, storage and driven cannot change", ErrInvalidConfig)
	}
	s.mu.Lock()
	if err := s.drivenCheckLocked(applied, false); err != nil {
		s.mu.Unlock()
		return err
	}
	s.cfg = cloneConfig(cfg)
	s.meta = slices.Clone(meta)
	ws := s.scratchLocked()
	ws.config, ws.meta = &s.cfg, s.meta
	s.enforceLimitsLocked(ws, "")
	ws.applied = applied
	wait, err := s.applyLocked(ws)
	s.mu.Unlock()
	if !s.driven {
		// New MaxAge or TTL settings: let the expirer look again now.
		s.st.hintDeadline(0)
	}
	return waitErr(s.name, wait, err)
}
