package store

import "math"

// MaxSeq is the largest sequence a stream assigns. Appends beyond it
// fail with ErrSeqOverflow rather than wrap, and a purge may move a
// stream forward to at most MaxSeq. It is the largest int64, so every
// sequence stays representable for clients and tools that hold
// sequences in signed 64-bit integers (Java's long, JSON parsers).
const MaxSeq uint64 = math.MaxInt64

// Stream is one append-only log of messages with an index by subject: a
// JetStream stream, and so a KV bucket. Both implementations (file and
// memory) share the semantics below; every method is safe for
// concurrent use. After the stream is deleted or the Store closed,
// methods return ErrClosed.
//
// Durability and visibility (file streams): a write (append, delete,
// purge, expiry, config update) is acknowledged, and its subscribers
// called, only once it is durable under the sync policy: on stable
// storage under Options.SyncAlways, in the operating system (a process
// crash keeps it; power loss may lose up to Options.SyncInterval) by
// default. No read (Get, GetLast, GetNext, LastPerSubject, NumPending,
// State, SubjectsState) returns anything that is not yet durable: a
// read that observed a write in flight waits for that write's group
// commit before it returns. So a crash never takes back what any
// client has seen, and a sequence once seen is never reused.
//
// Sequences: every message gets the stream's last sequence + 1, never
// more than MaxSeq; nothing ever wraps or reuses a sequence, across
// restarts too (a purge that moves the stream forward is persisted).
type Stream interface {
	// Name returns the stream name.
	Name() string
	// Config returns the current limits.
	Config() Config
	// Meta returns the opaque blob stored with the stream (jsapi keeps its
	// JSON stream config there). The caller must not modify it.
	Meta() []byte
	// UpdateConfig replaces the limits and meta atomically and applies the
	// new limits at once, which may remove messages (per-subject limit
	// always; MaxMsgs/MaxBytes with DiscardOld; MaxAge on the next expiry
	// pass, which it schedules). Name and Storage cannot change
	// (ErrInvalidConfig).
	UpdateConfig(cfg Config, meta []byte) error
	// Append stores a message with the next sequence and a timestamp from
	// the clock, or AppendOpts.Time (never below the previous one). Checks, in nats-server's
	// order: subject validity (ErrInvalidSubject), ExpectedStream
	// (ErrWrongStream), TTL allowed (ErrMsgTTLDisabled),
	// ExpectedLastSubjSeq then ExpectedLastSeq (*WrongSequenceError),
	// MsgID duplicate (returns the original sequence, Duplicate true, nil
	// error), MaxMsgSize (ErrMaxMsgSize), then the DiscardNew limits. All
	// checks and the write are atomic with respect to other appends.
	// Then it enforces per-subject and DiscardOld limits and the rollup,
	// in the same atomic write. It fails with ErrSeqOverflow when the
	// last sequence is MaxSeq. When Append returns, the message is
	// durable under the sync policy (on stable storage under
	// Options.SyncAlways, in the operating system by default) and
	// subscribers have been called for it. hdr and data are copied.
	Append(subject string, hdr, data []byte, opts AppendOpts) (AppendResult, error)
	// Get returns the message with sequence seq, or ErrNotFound.
	Get(seq uint64) (*Msg, error)
	// GetLast returns the last live message of a literal subject, or
	// ErrNotFound (ErrInvalidSubject for a wildcard or malformed subject).
	GetLast(subject string) (*Msg, error)
	// GetNext returns the first message with Seq >= start whose subject
	// matches filter ("" or ">" match everything), or ErrNotFound.
	GetNext(filter string, start uint64) (*Msg, error)
	// LastMatching returns the newest live message among the subjects
	// matching filter, which may hold wildcards ("" or ">": any), or
	// ErrNotFound (ErrInvalidSubject for a malformed filter). The work
	// is bounded by the matching subjects, not the stream's length.
	LastMatching(filter string) (*Msg, error)
	// SeqForTime returns the sequence of the first live message stored
	// at or after ns (Unix nanoseconds), or LastSeq+1 if there is none
	// (deliver policy by_start_time). It is a binary search.
	SeqForTime(ns int64) uint64
	// DeletedSeqs returns, ascending, up to limit sequences >= from that
	// lie between FirstSeq and LastSeq and hold no message (the gaps
	// State.NumDeleted counts, nats-server's "deleted_details"), and the
	// from of the next page, 0 when there is none. One call does
	// O(limit) work under the stream's read lock.
	DeletedSeqs(from uint64, limit int) (seqs []uint64, next uint64)
	// LastPerSubject calls fn with the last live message of every subject
	// matching filter, in ascending sequence order, until fn returns
	// false. fn runs without any stream lock held, so it may call the
	// stream; messages appended or removed during the iteration may or
	// may not be seen, but every subject whose last message stays in
	// place is seen exactly once.
	LastPerSubject(filter string, fn func(*Msg) bool) error
	// NumPending counts the messages with Seq >= start matching filter,
	// or, with lastPerSubject, the subjects matching filter whose last
	// message has Seq >= start.
	NumPending(filter string, start uint64, lastPerSubject bool) uint64
	// Delete removes the message with sequence seq, or returns
	// ErrNotFound.
	Delete(seq uint64) error
	// Purge removes the messages PurgeOpts selects and returns how many.
	// Without a subject filter or Keep, a Seq beyond the last sequence
	// moves the stream forward (the next append gets Seq), as
	// nats-server's compact does; a Seq beyond MaxSeq fails with
	// ErrSeqOverflow and changes nothing.
	Purge(opts PurgeOpts) (uint64, error)
	// State returns the counters.
	State() State
	// SubjectsState returns the number of live messages per subject for
	// the subjects matching filter ("" or ">" for all).
	SubjectsState(filter string) map[string]uint64
	// Subscribe registers fn to be called after each stored message,
	// including the markers the store writes itself, in sequence order,
	// outside the stream lock, once the message is durable under the
	// sync policy. fn must not block long: appends wait for it. It may
	// read the stream but must not append to it (that would deadlock).
	// cancel removes fn: after cancel returns no new call of fn starts,
	// though one already running may still be in progress.
	Subscribe(fn func(*Msg)) (cancel func())
	// Snapshotter pins the last message of every subject at one
	// sequence (snapshot.go).
	Snapshotter
	// Driver is the deterministic apply path of a replicated stream
	// (driven.go).
	Driver
}

// Driver is how a replicated log drives a stream (Config.Driven;
// driven.go and docs/STORE.md "Driven streams"). Every mutation takes
// the index of the log entry it applies (applied; 0: none). A call
// that succeeds with applied > 0 persists applied in the same atomic
// write as its changes, so that after a crash Applied() is the index of
// the last durable mutation; a call with applied not above Applied()
// fails with ErrAlreadyApplied and changes nothing; a call that fails
// records nothing. Append and Purge take theirs in AppendOpts.Applied
// and PurgeOpts.Applied, AppendBatchOpts in BatchOpts.Applied.
type Driver interface {
	// Applied returns the index of the last log entry applied (0 if
	// none), as persisted.
	Applied() uint64
	// SetApplied records index (> 0; ErrInvalidConfig for 0) as
	// applied, changing nothing else: the entry did not concern the
	// stream, or its outcome was a refusal the caller wants remembered.
	SetApplied(index uint64) error
	// DeleteApplied is Delete for log entry applied.
	DeleteApplied(seq, applied uint64) error
	// UpdateConfigApplied is UpdateConfig for log entry applied. On a
	// driven stream a shorter MaxAge takes effect at the next ExpireAt.
	UpdateConfigApplied(cfg Config, meta []byte, applied uint64) error
	// ExpireAt runs one deterministic expiry pass at now (Unix ns) for
	// log entry applied and returns the earliest deadline left (a
	// message's MaxAge or TTL, an id leaving the duplicate window;
	// math.MaxInt64: never): when the leader should propose the next
	// pass.
	ExpireAt(now int64, applied uint64) (next int64, err error)
}
