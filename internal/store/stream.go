package store

// Stream is one append-only log of messages with an index by subject: a
// JetStream stream, and so a KV bucket. Both implementations (file and
// memory) share the semantics below; every method is safe for
// concurrent use. After the stream is deleted or the Store closed,
// methods return ErrClosed.
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
	// the clock (never below the previous one). Checks, in nats-server's
	// order: subject validity (ErrInvalidSubject), ExpectedStream
	// (ErrWrongStream), TTL allowed (ErrMsgTTLDisabled),
	// ExpectedLastSubjSeq then ExpectedLastSeq (*WrongSequenceError),
	// MsgID duplicate (returns the original sequence, Duplicate true, nil
	// error), MaxMsgSize (ErrMaxMsgSize), then the DiscardNew limits. All
	// checks and the write are atomic with respect to other appends.
	// Then it enforces per-subject and DiscardOld limits and the rollup,
	// in the same atomic write. Under Options.SyncAlways the message is
	// on stable storage when Append returns. Subscribers have been called
	// for it when Append returns. hdr and data are copied.
	Append(subject string, hdr, data []byte, opts AppendOpts) (AppendResult, error)
	// Get returns the message with sequence seq, or ErrNotFound.
	Get(seq uint64) (*Msg, error)
	// GetLast returns the last live message of a literal subject, or
	// ErrNotFound (ErrInvalidSubject for a wildcard or malformed subject).
	GetLast(subject string) (*Msg, error)
	// GetNext returns the first message with Seq >= start whose subject
	// matches filter ("" or ">" match everything), or ErrNotFound.
	GetNext(filter string, start uint64) (*Msg, error)
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
}
