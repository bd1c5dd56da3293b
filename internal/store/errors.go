package store

import (
	"errors"
	"fmt"
)

// Sentinel errors. Test with errors.Is; jsapi translates them to wire
// errors.
var (
	// ErrStreamExists: CreateStream with a name already in use.
	ErrStreamExists = errors.New("store: stream already exists")
	// ErrStreamNotFound: no stream with that name.
	ErrStreamNotFound = errors.New("store: stream not found")
	// ErrNotFound: no message matches the request.
	ErrNotFound = errors.New("store: no message found")
	// ErrWrongLastSequence: AppendOpts.ExpectedLastSeq did not match.
	// Returned wrapped in a *WrongSequenceError.
	ErrWrongLastSequence = errors.New("store: wrong last sequence")
	// ErrWrongLastSubjectSequence: AppendOpts.ExpectedLastSubjSeq did not
	// match. Returned wrapped in a *WrongSequenceError.
	ErrWrongLastSubjectSequence = errors.New("store: wrong last subject sequence")
	// ErrWrongStream: AppendOpts.ExpectedStream did not match.
	ErrWrongStream = errors.New("store: expected stream does not match")
	// ErrMaxBytes: DiscardNew and the append would exceed MaxBytes.
	ErrMaxBytes = errors.New("store: maximum bytes exceeded")
	// ErrMaxMsgs: DiscardNew and the stream holds MaxMsgs messages.
	ErrMaxMsgs = errors.New("store: maximum messages exceeded")
	// ErrMaxMsgSize: header plus data exceed MaxMsgSize.
	ErrMaxMsgSize = errors.New("store: message size exceeds maximum allowed")
	// ErrMaxMsgsPerSubject: DiscardNewPerSubject and the subject is full.
	ErrMaxMsgsPerSubject = errors.New("store: maximum messages per subject exceeded")
	// ErrInvalidSubject: an appended subject that is empty, holds
	// wildcards, whitespace or empty tokens, or a malformed filter.
	ErrInvalidSubject = errors.New("store: invalid subject")
	// ErrMsgTTLDisabled: a TTL on a stream without AllowMsgTTL.
	ErrMsgTTLDisabled = errors.New("store: per-message TTL is disabled")
	// ErrInvalidConfig: a config the store cannot apply (for example a
	// changed name or storage type on update).
	ErrInvalidConfig = errors.New("store: invalid stream config")
	// ErrSeqOverflow: the operation would take the stream's sequence past
	// MaxSeq: an append to a stream whose last sequence is MaxSeq, or a
	// purge whose Seq is beyond MaxSeq. The stream is unchanged.
	ErrSeqOverflow = errors.New("store: sequence would overflow")
	// ErrSnapshotBudget: SnapshotLastPerSubject would make the open
	// snapshots hold more than Options.MaxSnapshotEntries entries. Try
	// again once other snapshots are delivered or closed.
	ErrSnapshotBudget = errors.New("store: snapshot budget exhausted")
	// ErrAlreadyApplied: a mutation carries a replicated log index
	// (AppendOpts.Applied and the like) not above the stream's
	// Applied(): the entry was applied before (a replay after a
	// restart). Nothing changed.
	ErrAlreadyApplied = errors.New("store: log entry already applied")
	// ErrNoTime: an append to a driven stream without an explicit time
	// (AppendOpts.Time, BatchOpts.Time). Nothing changed.
	ErrNoTime = errors.New("store: a driven stream needs an explicit time")
	// ErrClosed: the Store was closed, or the stream was deleted.
	ErrClosed = errors.New("store: closed")
	// ErrCorrupt marks every corruption error. Use errors.As with
	// *CorruptError for the stream name and details.
	ErrCorrupt = errors.New("store: corrupt data")
)

// WrongSequenceError carries the actual last sequence of a failed
// expectation; the wire error text is "wrong last sequence: N". It
// matches ErrWrongLastSequence or ErrWrongLastSubjectSequence with
// errors.Is.
type WrongSequenceError struct {
	// Kind is ErrWrongLastSequence or ErrWrongLastSubjectSequence.
	Kind error
	// Last is the actual last sequence (of the stream or the subject; 0
	// when the subject has no live message).
	Last uint64
}

func (e *WrongSequenceError) Error() string {
	return fmt.Sprintf("%v: %d", e.Kind, e.Last)
}

// Unwrap returns Kind.
func (e *WrongSequenceError) Unwrap() error { return e.Kind }

// CorruptError reports data the store cannot trust. It matches ErrCorrupt
// with errors.Is. Open refuses to start on it; docs/STORE.md says how to
// recover.
type CorruptError struct {
	// Stream is the affected stream, or "" when the damage is not tied to
	// one stream (the database itself).
	Stream string
	// Problem describes what is wrong and where (key, sequence).
	Problem string
	// Err is the underlying error, if any.
	Err error
}

func (e *CorruptError) Error() string {
	s := "store: corrupt data"
	if e.Stream != "" {
		s += " in stream " + e.Stream
	}
	s += ": " + e.Problem
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Unwrap returns the underlying error.
func (e *CorruptError) Unwrap() error { return e.Err }

func corruptf(stream string, err error, format string, args ...any) error {
	return &CorruptError{Stream: stream, Problem: fmt.Sprintf(format, args...), Err: err}
}
