package store

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Atomic batches (ADR-50). A batch is checked whole against the stream
// as it was before the batch, then applied to the index and persisted
// as one write set: one Pebble batch, so after a crash either every
// message of it is there or none is. Readers take the stream lock and
// so see the index before or after the whole batch; subscribers are
// called once the write is durable, with the batch's messages, which
// have consecutive sequences, one after the other.

// Errors of a batch that a single append cannot give.
var (
	// ErrBatchDuplicateMsgID: a message id seen within the duplicate
	// window, or twice in the batch. A batch is never partly a
	// duplicate: it is refused.
	ErrBatchDuplicateMsgID = errors.New("store: batch contains a duplicate message id")
	// ErrBatchExpectation: an expectation that cannot hold in a batch:
	// an expected last sequence on a message other than the first, or
	// an expected last subject sequence for a subject that an earlier
	// message of the batch writes.
	ErrBatchExpectation = errors.New("store: batch expectation out of place")
	// ErrBatchRollupSubject: a subject rollup on a subject an earlier
	// message of the batch writes.
	ErrBatchRollupSubject = errors.New("batch rollup sub invalid")
	// ErrBatchRollupAll: a stream rollup on a message other than the
	// first.
	ErrBatchRollupAll = errors.New("batch rollup all invalid")
)

// BatchMsg is one message of an atomic batch with its options.
type BatchMsg struct {
	Subject      string
	Header, Data []byte
	// TTL, MsgID and Rollup mean what they mean in AppendOpts.
	TTL    time.Duration
	MsgID  string
	Rollup Rollup
	// ExpectedLastSeq, when HasExpectedLastSeq, must equal the stream's
	// last sequence before the batch; only the first message may carry
	// it (ErrBatchExpectation otherwise, or a *WrongSequenceError
	// naming the sequence the message would follow).
	ExpectedLastSeq    uint64
	HasExpectedLastSeq bool
	// ExpectedLastSubjSeq, when HasExpectedLastSubjSeq, must equal the
	// last sequence of the subject (or of ExpectedLastSubjSeqSubject)
	// before the batch. A subject an earlier message of the batch
	// writes cannot be checked (ErrBatchExpectation); two checks of one
	// subject must agree.
	ExpectedLastSubjSeq        uint64
	HasExpectedLastSubjSeq     bool
	ExpectedLastSubjSeqSubject string
	// Refuse and RefuseLate, when not nil, are returned as the batch's
	// error when its turn comes: Refuse before the store checks this
	// message, RefuseLate after its expectations and before its
	// rollup and limits. They let the caller's own checks (header
	// rules the store does not know) keep their place in the order in
	// which nats-server checks a batch, message by message.
	Refuse, RefuseLate error
}

// BatchResult is the outcome of a committed batch.
type BatchResult struct {
	// First and Last are the sequences of the batch's first and last
	// message; the batch holds every sequence in between.
	First, Last uint64
	// Time is the timestamp of the last message.
	Time int64
}

// BatchError is a refused batch: the index of the message whose check
// failed and why. Nothing of the batch was stored.
type BatchError struct {
	Index int
	Err   error
}

func (e *BatchError) Error() string { return fmt.Sprintf("batch message %d: %v", e.Index+1, e.Err) }

// Unwrap returns Err.
func (e *BatchError) Unwrap() error { return e.Err }

// BatchAppender is implemented by streams that append atomic batches.
type BatchAppender interface {
	// AppendBatch checks msgs, in order, against the stream as it is
	// before the batch, and appends all of them or none. The messages
	// get consecutive sequences; the per-subject limit, rollups and
	// DiscardOld limits apply message by message in the same write.
	// DiscardNew limits count the whole batch on top of the stream
	// (what it would remove does not count), as nats-server does. On
	// refusal it returns a *BatchError. It is safe for concurrent use;
	// the header and data slices are copied.
	AppendBatch(msgs []BatchMsg) (BatchResult, error)
	// AppendBatchOpts is AppendBatch with an explicit time and a
	// replicated log index (BatchOpts). A refused batch records no
	// index.
	AppendBatchOpts(msgs []BatchMsg, opts BatchOpts) (BatchResult, error)
}

// BatchOpts are the options of a whole batch.
type BatchOpts struct {
	// Time, when not 0, is the time of the batch (Unix ns), as
	// AppendOpts.Time: every message of the batch gets it (raised to
	// the stream's last timestamp) instead of a clock reading each. A
	// driven stream requires it (ErrNoTime).
	Time int64
	// Applied, when not 0, is the replicated log index persisted with
	// the batch, as AppendOpts.Applied.
	Applied uint64
}

var _ BatchAppender = (*stream)(nil)

func (s *stream) AppendBatch(msgs []BatchMsg) (BatchResult, error) {
	return s.AppendBatchOpts(msgs, BatchOpts{})
}

func (s *stream) AppendBatchOpts(msgs []BatchMsg, opts BatchOpts) (BatchResult, error) {
	if len(msgs) == 0 {
		return BatchResult{}, &BatchError{Err: errors.New("store: empty batch")}
	}
	for i := range msgs {
		if !validSubject(msgs[i].Subject) {
			return BatchResult{}, &BatchError{Index: i, Err: fmt.Errorf("%w: %q", ErrInvalidSubject, msgs[i].Subject)}
		}
	}
	s.mu.Lock()
	sizes, err := s.checkBatchLocked(msgs, opts)
	if err != nil {
		ticket := s.unsettled
		s.mu.Unlock()
		// A refusal tells what it saw: like a read, it waits until that
		// is durable.
		if werr := s.st.durable(ticket); werr != nil {
			return BatchResult{}, fmt.Errorf("store: stream %s: sync: %w", s.name, werr)
		}
		return BatchResult{}, err
	}
	res, ws := s.addBatchLocked(msgs, sizes, opts.Time)
	ws.applied = opts.Applied
	wait, err := s.applyLocked(ws)
	s.mu.Unlock()
	if err != nil {
		return BatchResult{}, err
	}
	if wait != nil {
		if err := wait(); err != nil {
			return BatchResult{}, fmt.Errorf("store: stream %s: sync: %w", s.name, err)
		}
	}
	s.deliver(res.Last)
	return res, nil
}

// batchSubject is what a batch writes to one subject, for its checks.
type batchSubject struct {
	ops   uint64
	bytes uint64
}

// checkBatchLocked checks every message of a batch against the stream
// before the batch, in nats-server's order, and returns their
// accounted sizes. It changes nothing.
func (s *stream) checkBatchLocked(msgs []BatchMsg, opts BatchOpts) ([]uint64, error) {
	if err := s.drivenCheckLocked(opts.Applied, opts.Time == 0); err != nil {
		return nil, err
	}
	if uint64(len(msgs)) > MaxSeq-s.lastSeq {
		return nil, &BatchError{Err: ErrSeqOverflow}
	}
	cfg := &s.cfg
	now := s.timeFor(opts.Time)
	written := make(map[string]*batchSubject, len(msgs))
	checked := make(map[string]uint64) // per-subject expectations checked
	ids := make(map[string]struct{})
	sizes := make([]uint64, len(msgs))
	var totalBytes uint64
	fail := func(i int, err error) ([]uint64, error) { return nil, &BatchError{Index: i, Err: err} }
	for i := range msgs {
		m := &msgs[i]
		if m.Refuse != nil {
			return fail(i, m.Refuse)
		}
		if m.TTL != 0 && !cfg.AllowMsgTTL {
			return fail(i, ErrMsgTTLDisabled)
		}
		if cfg.MaxMsgSize > 0 && int64(len(m.Header))+int64(len(m.Data)) > int64(cfg.MaxMsgSize) {
			return fail(i, ErrMaxMsgSize)
		}
		size := s.msgSize(m.Subject, m.Header, m.Data)
		if size > 1<<32-1 {
			return fail(i, ErrMaxMsgSize)
		}
		sizes[i] = size
		if m.MsgID != "" {
			if _, dup := ids[m.MsgID]; dup {
				return fail(i, ErrBatchDuplicateMsgID)
			}
			if cfg.DuplicateWindow > 0 {
				if _, ok := s.dedupLookupLocked(m.MsgID, now); ok {
					return fail(i, ErrBatchDuplicateMsgID)
				}
			}
			ids[m.MsgID] = struct{}{}
		}
		if m.HasExpectedLastSeq {
			// The message would follow lastSeq+i.
			if follows := s.lastSeq + uint64(i); m.ExpectedLastSeq != follows {
				return fail(i, &WrongSequenceError{Kind: ErrWrongLastSequence, Last: follows})
			} else if i > 0 {
				return fail(i, ErrBatchExpectation)
			}
		}
		if m.HasExpectedLastSubjSeq {
			if err := s.checkBatchSubjectLocked(m, written, checked); err != nil {
				return fail(i, err)
			}
		}
		if m.RefuseLate != nil {
			return fail(i, m.RefuseLate)
		}
		switch m.Rollup {
		case RollupSubject:
			if written[m.Subject] != nil {
				return fail(i, ErrBatchRollupSubject)
			}
		case RollupAll:
			if i > 0 {
				return fail(i, ErrBatchRollupAll)
			}
		}
		w := written[m.Subject]
		if w == nil {
			w = &batchSubject{}
			written[m.Subject] = w
		}
		w.ops++
		w.bytes += size
		totalBytes += size
		if err := s.checkBatchDiscardNew(m, w, uint64(i+1), totalBytes); err != nil {
			return fail(i, err)
		}
	}
	return sizes, nil
}

// checkBatchSubjectLocked checks one per-subject expectation of a batch
// message against the stream before the batch.
func (s *stream) checkBatchSubjectLocked(m *BatchMsg, written map[string]*batchSubject, checked map[string]uint64) error {
	check := m.Subject
	if m.ExpectedLastSubjSeqSubject != "" {
		check = m.ExpectedLastSubjSeqSubject
		if !validFilter(check) {
			return ErrInvalidSubject
		}
	}
	if written[check] != nil {
		return ErrBatchExpectation
	}
	last, seen := checked[check]
	if !seen {
		last = s.ix.lastSeqMatching(check)
	}
	if last != m.ExpectedLastSubjSeq {
		return &WrongSequenceError{Kind: ErrWrongLastSubjectSequence, Last: last}
	}
	checked[check] = last
	return nil
}

// checkBatchDiscardNew applies the DiscardNew limits to the batch so
// far (n messages of totalBytes, w of them on m's subject) on top of
// the stream, as nats-server does for a batch: what the batch would
// remove does not make room.
func (s *stream) checkBatchDiscardNew(m *BatchMsg, w *batchSubject, n, totalBytes uint64) error {
	cfg := &s.cfg
	if cfg.Discard != DiscardNew {
		return nil
	}
	if cfg.MaxMsgs > 0 && s.ix.msgs+n > uint64(cfg.MaxMsgs) {
		return ErrMaxMsgs
	}
	if cfg.MaxBytes > 0 && s.ix.bytes+totalBytes > uint64(cfg.MaxBytes) {
		return ErrMaxBytes
	}
	if cfg.DiscardNewPerSubject && cfg.MaxMsgsPerSubject > 0 && m.Rollup == RollupNone {
		have := uint64(0)
		if ss := s.ix.lookup(m.Subject); ss != nil {
			have = uint64(ss.count())
		}
		if have+w.ops > uint64(cfg.MaxMsgsPerSubject) {
			return ErrMaxMsgsPerSubject
		}
	}
	return nil
}

// addBatchLocked applies a checked batch to the index and returns the
// write set. A message that a later one of the same batch removes (a
// key written twice under history 1) is neither written nor passed to
// subscribers: Pebble would apply its deletion before its put. t is
// BatchOpts.Time.
func (s *stream) addBatchLocked(msgs []BatchMsg, sizes []uint64, t int64) (BatchResult, *writeSet) {
	ws := s.scratchLocked()
	pendingFrom := len(s.pending)
	res := BatchResult{First: s.lastSeq + 1}
	for i := range msgs {
		bm := &msgs[i]
		// Each message its own time, as nats-server stamps each of a
		// batch's messages when it stores it (never before the last).
		m := &Msg{Subject: bm.Subject, Seq: s.lastSeq + 1, Time: max(s.timeFor(t), s.lastTime)}
		if len(bm.Header) > 0 {
			m.Header = slices.Clone(bm.Header)
		}
		m.Data = slices.Clone(bm.Data)
		if m.Data == nil {
			m.Data = []byte{}
		}
		s.addLocked(ws, m, bm.TTL, bm.MsgID, sizes[i])
		switch bm.Rollup {
		case RollupSubject:
			ss := s.ix.lookup(bm.Subject)
			for ss.count() > 1 {
				s.removeSeqLocked(ws, ss.seqs()[0])
			}
		case RollupAll:
			for f := s.ix.first(); f != nil && f.seq < m.Seq; f = s.ix.first() {
				s.removeAtLocked(ws, s.ix.head)
			}
			ws.delBelow = m.Seq
		}
		s.enforceLimitsLocked(ws, bm.Subject)
		res.Last, res.Time = m.Seq, m.Time
	}
	// Drop what the batch itself removed from the puts and the delivery
	// queue; its deletions stay (harmless for keys never written).
	var gone map[uint64]bool
	for _, seq := range ws.dels {
		if seq >= res.First {
			if gone == nil {
				gone = make(map[uint64]bool)
			}
			gone[seq] = true
		}
	}
	if gone != nil {
		ws.puts = slices.DeleteFunc(ws.puts, func(p putMsg) bool { return gone[p.msg.Seq] })
		ws.dels = slices.DeleteFunc(ws.dels, func(seq uint64) bool { return gone[seq] })
		tail := slices.DeleteFunc(s.pending[pendingFrom:], func(m *Msg) bool { return gone[m.Seq] })
		s.pending = s.pending[:pendingFrom+len(tail)]
	}
	return res, ws
}
