package store

import (
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// StorageType says where a stream keeps its messages.
type StorageType int

const (
	// FileStorage streams live in the Store's Pebble database and survive
	// restarts.
	FileStorage StorageType = iota
	// MemoryStorage streams live in process memory only. Like a
	// single-server nats-server, neither their messages nor their
	// definition survive a restart.
	MemoryStorage
)

// String returns "file" or "memory", the JetStream names.
func (t StorageType) String() string {
	if t == MemoryStorage {
		return "memory"
	}
	return "file"
}

// DiscardPolicy says what an append does when MaxMsgs or MaxBytes is
// reached.
type DiscardPolicy int

const (
	// DiscardOld removes the oldest messages to make room.
	DiscardOld DiscardPolicy = iota
	// DiscardNew rejects the append with ErrMaxMsgs or ErrMaxBytes.
	DiscardNew
)

// Rollup is the rollup requested by an append (the Nats-Rollup header).
type Rollup int

const (
	// RollupNone keeps earlier messages.
	RollupNone Rollup = iota
	// RollupSubject removes every earlier message of the appended subject
	// once the append succeeds.
	RollupSubject
	// RollupAll removes every earlier message of the stream once the
	// append succeeds.
	RollupAll
)

// Config holds the limits a stream enforces. jsapi maps the JetStream
// stream configuration onto it; the store checks none of the JetStream
// validation rules (names, subject overlap, ranges) beyond what it needs
// to stay consistent.
type Config struct {
	// Name is the stream name; it is the key of the stream in the Store
	// and cannot change.
	Name string
	// Subjects are the filters the stream captures. The store does not
	// route by them; it keeps them so that Config round-trips.
	Subjects []string
	// Storage selects the implementation; it cannot change on update.
	Storage StorageType
	// MaxMsgs and MaxBytes limit the stream; <= 0 means unlimited.
	// Bytes are counted as nats-server counts them (see State.Bytes).
	MaxMsgs, MaxBytes int64
	// MaxAge removes messages older than this; 0 means no limit.
	MaxAge time.Duration
	// MaxMsgSize limits len(header)+len(data) of one message; <= 0
	// means unlimited.
	MaxMsgSize int32
	// MaxMsgsPerSubject keeps at most this many messages per subject (the
	// KV history), dropping the oldest of the subject; <= 0 means
	// unlimited.
	MaxMsgsPerSubject int64
	// Discard is the policy for MaxMsgs and MaxBytes.
	Discard DiscardPolicy
	// DiscardNewPerSubject, with Discard == DiscardNew, rejects an
	// append to a subject that already holds MaxMsgsPerSubject messages
	// (ErrMaxMsgsPerSubject) instead of dropping its oldest; a rollup
	// append is still accepted.
	DiscardNewPerSubject bool
	// DuplicateWindow is how long a message id is remembered for
	// de-duplication; 0 disables de-duplication. An append with an id
	// forgets the ids older than the window in force, for good, even if
	// the window grows later; a restart remembers the ids of the stored
	// messages within the window.
	DuplicateWindow time.Duration
	// AllowMsgTTL enables per-message TTLs (AppendOpts.TTL); appending
	// with a TTL to a stream without it fails with ErrMsgTTLDisabled.
	AllowMsgTTL bool
	// SubjectDeleteMarkerTTL > 0 makes the store append a delete marker
	// when MaxAge or a per-message TTL removes the last message of a
	// subject (ADR-43 "Limit Markers"). The marker has an empty body, the
	// header "Nats-Marker-Reason: MaxAge" and "Nats-TTL: <this duration>"
	// and expires after this duration.
	SubjectDeleteMarkerTTL time.Duration
	// Driven makes the stream a replica driven by a replicated log
	// (driven.go, docs/STORE.md "Driven streams"): the store's expiry
	// goroutine never touches it, expiry runs only in ExpireAt, appends
	// must carry an explicit AppendOpts.Time, and nothing it stores
	// depends on the clock. It is persisted and cannot change on update.
	Driven bool `json:",omitempty"`
}

// Msg is one stored message. Messages returned by the store, and those
// passed to Subscribe callbacks, may share memory with the store: callers
// must not modify Header or Data.
type Msg struct {
	// Subject is the literal subject the message was appended with.
	Subject string
	// Header is the raw NATS header block ("NATS/1.0\r\nK: V\r\n\r\n")
	// or nil.
	Header []byte
	// Data is the payload; it may be empty.
	Data []byte
	// Seq is the stream sequence (the KV revision).
	Seq uint64
	// Time is the store timestamp in Unix nanoseconds. Timestamps never
	// decrease along the sequence.
	Time int64
}

// AppendOpts carries the expectations and options of one append. The
// zero value appends unconditionally.
type AppendOpts struct {
	// ExpectedStream, if not empty, must equal the stream name
	// (Nats-Expected-Stream) or the append fails with ErrWrongStream.
	ExpectedStream string
	// ExpectedLastSeq, when HasExpectedLastSeq, must equal the stream's
	// last sequence (Nats-Expected-Last-Sequence).
	ExpectedLastSeq    uint64
	HasExpectedLastSeq bool
	// ExpectedLastSubjSeq, when HasExpectedLastSubjSeq, must equal the
	// sequence of the last live message of the subject
	// (Nats-Expected-Last-Subject-Sequence); 0 means the subject has no
	// live message (never written, deleted, purged or expired).
	ExpectedLastSubjSeq    uint64
	HasExpectedLastSubjSeq bool
	// ExpectedLastSubjSeqSubject overrides the subject used for that
	// check (Nats-Expected-Last-Subject-Sequence-Subject); it may hold
	// wildcards, in which case the last message of any matching subject
	// counts. "" means the appended subject.
	ExpectedLastSubjSeqSubject string
	// MsgID de-duplicates within Config.DuplicateWindow (Nats-Msg-Id).
	MsgID string
	// Rollup removes earlier messages once the append succeeds.
	Rollup Rollup
	// TTL is the per-message TTL (Nats-TTL): 0 none, < 0 never expire
	// (also exempt from MaxAge), > 0 remove the message TTL after its
	// timestamp. Requires Config.AllowMsgTTL unless 0.
	TTL time.Duration
	// Time, when not 0, is the time of the append (Unix ns) instead of
	// the clock's: the message's timestamp (raised to the stream's last
	// timestamp if below it) and the now of the duplicate window check.
	// A driven stream requires it (ErrNoTime).
	Time int64
	// Applied, when not 0, is the index of the replicated log entry this
	// append applies (driven.go): it is persisted with the message in
	// the same atomic write, a duplicate records it alone, and an index
	// not above Stream.Applied fails with ErrAlreadyApplied, changing
	// nothing. A refused append records nothing.
	Applied uint64
	// NoWait returns without waiting for the write (or, for a refusal
	// or a duplicate, the writes it saw) to be durable under the sync
	// policy; the sync is requested all the same, and readers still
	// wait for it, until the caller calls Settle (Settler), which it
	// must. For a replicated stream, whose log already holds the entry
	// durably: the entries of one Raft batch share one sync instead of
	// waiting for one each.
	NoWait bool
}

// AppendResult is the outcome of a successful append.
type AppendResult struct {
	// Seq is the sequence assigned to the message or, for a duplicate,
	// the sequence of the original message.
	Seq uint64
	// Time is the timestamp given to the message (0 for a duplicate).
	Time int64
	// Duplicate reports that MsgID was seen within the duplicate window;
	// nothing was stored.
	Duplicate bool
}

// State is a snapshot of a stream's counters, with nats-server's meaning.
type State struct {
	// Msgs and Bytes count the live messages. Bytes uses nats-server's
	// per-message accounting: for file storage 30+len(subject)+len(data)
	// plus 4+len(header) when there is a header; for memory storage
	// 16+len(subject)+len(header)+len(data).
	Msgs, Bytes uint64
	// FirstSeq is the sequence of the oldest live message or, when the
	// stream is empty, LastSeq+1 (0 for a stream that never held a
	// message). LastSeq is the last sequence assigned (it does not go
	// back when the last message is removed).
	FirstSeq, LastSeq uint64
	// FirstTime and LastTime are the timestamps of those messages
	// (FirstTime is 0 for an empty stream).
	FirstTime, LastTime int64
	// NumSubjects counts the subjects with at least one live message.
	NumSubjects int
	// NumDeleted counts the interior gaps: LastSeq-FirstSeq+1-Msgs when
	// the stream holds messages, 0 otherwise.
	NumDeleted int
	// Consumers is not maintained by the store; jsapi fills it in.
	Consumers int
}

// PurgeOpts selects what Purge removes. Fields combine: a message is
// removed when it matches Subject, its sequence is below Seq (if Seq >
// 0), and it is not among the Keep newest matching messages (if Keep >
// 0).
type PurgeOpts struct {
	// Subject filters the purged messages; it may hold wildcards; "" (or
	// ">") means every message.
	Subject string
	// Seq, if > 0, purges only messages with a sequence below Seq. With
	// no Subject filter, a Seq beyond the last sequence moves the stream
	// forward: the next append gets sequence Seq.
	Seq uint64
	// Keep, if > 0, keeps the Keep newest matching messages.
	Keep uint64
	// Applied, when not 0, is the index of the replicated log entry
	// the purge applies, persisted with it (AppendOpts.Applied).
	Applied uint64
}

// Options configures a Store.
type Options struct {
	// SyncInterval is how often file writes are fsynced under the default
	// policy; 0 means 2 minutes, like nats-server. In between, every
	// write is in the operating system (its WAL write system call has
	// returned) before it is acknowledged or shown to a reader.
	SyncInterval time.Duration
	// SyncAlways fsyncs every write before it is acknowledged or shown
	// to a reader; writers that commit at the same time share one fsync.
	SyncAlways bool
	// Logger receives the store's and Pebble's log lines; nil discards
	// them.
	Logger *slog.Logger
	// Clock supplies time for timestamps and expiry; nil means the
	// system clock. Tests use a *ManualClock.
	Clock Clock
	// CacheSize is the Pebble block cache size in bytes; 0 means
	// DefaultCacheSize. Ignored when Cache is set.
	CacheSize int64
	// Cache, when set, is a block cache shared with other stores (the
	// stores of a server's accounts), so that their memory is bounded
	// together.
	Cache *Cache
	// MemTableSize is the size of Pebble's memtable, the writes not yet
	// in a table file: it bounds the memory and the WAL each store holds
	// (Pebble keeps up to two full memtables, and reuses up to three old
	// WAL files). 0 means DefaultMemTableSize.
	MemTableSize int64
	// MaxSnapshotEntries bounds the entries (one per captured key, 8
	// bytes; 16 in a memory stream) held by all open snapshots together;
	// a capture that would pass it fails with ErrSnapshotBudget
	// (snapshot_budget.go). 0 means DefaultMaxSnapshotEntries, negative
	// no limit.
	MaxSnapshotEntries int64

	// manualExpiry (tests) starts no expiry goroutine: the test calls
	// expire itself, for determinism.
	manualExpiry bool
	// fs (tests) replaces the operating system's file system, e.g. with
	// a crashable in-memory one.
	fs vfs.FS
}

// Defaults of the memory a store holds whatever its size.
const (
	DefaultCacheSize    = 64 << 20
	DefaultMemTableSize = 8 << 20
	// minMemTableSize is Pebble's smallest memtable.
	minMemTableSize = 1 << 20
)

// limitOr returns v, or def when v <= 0.
func limitOr(v, def int64) int64 {
	if v <= 0 {
		return def
	}
	return v
}

// Cache is a block cache that several stores can share
// (Options.Cache). Release it when no store will be opened with it any
// more; the stores keep their own reference until they close.
type Cache struct{ c *pebble.Cache }

// NewCache returns a cache of size bytes.
func NewCache(size int64) *Cache { return &Cache{c: pebble.NewCache(size)} }

// Release drops the creator's reference.
func (c *Cache) Release() { c.c.Unref() }
