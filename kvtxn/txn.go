package kvtxn

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// KV header names and operation values, as nats.go's jetstream/kv.go writes
// them (ADR-8).
const (
	kvOperationHeader = "KV-Operation"
	kvDelete          = "DEL"
	kvPurge           = "PURGE"
	rollupHeader      = "Nats-Rollup"
	rollupSubject     = "sub"
)

// Error codes of the JetStream API the package branches on (ADR-7).
const (
	errCodeWrongLastSequence jetstream.ErrorCode = 10071
	errCodeAtomicDisabled    jetstream.ErrorCode = 10174
)

// maxCreateRetries bounds how often Commit retries a transaction whose
// only failed conditions were creates of keys that hold a delete or purge
// marker (see [Txn.Create]).
const maxCreateRetries = 3

var (
	// ErrConflict is wrapped by every [*ConflictError], and by the error
	// of a commit refused for a condition that held again when the keys
	// were read after the refusal (the key cannot be named then).
	ErrConflict = errors.New("kvtxn: condition failed")
	// ErrNotEnabled is returned by Commit when the bucket's stream does not
	// allow atomic batches (allow_atomic is off); see [EnableTransactions].
	ErrNotEnabled = errors.New("kvtxn: transactions are not enabled on the bucket (its stream has allow_atomic off)")
	// ErrDuplicateKey is returned when a transaction names a key twice.
	ErrDuplicateKey = errors.New("kvtxn: key already used in this transaction")
	// ErrEmpty is returned by Commit for a transaction without operations.
	ErrEmpty = errors.New("kvtxn: empty transaction")
	// ErrDone is returned when a committed transaction is used again.
	ErrDone = errors.New("kvtxn: transaction already committed")
	// ErrInvalidKey is returned for a key that is not a valid KV key.
	ErrInvalidKey = errors.New("kvtxn: invalid key")
)

// Op is the kind of one operation of a transaction.
type Op string

// The operations of a transaction.
const (
	OpPut    Op = "put"
	OpCreate Op = "create"
	OpUpdate Op = "update"
	OpDelete Op = "del"
	OpPurge  Op = "purge"
)

// operation is one write of a transaction.
type operation struct {
	op    Op
	key   string
	value []byte
	// expect is the key's expected last revision (0: absent) when
	// hasExpect is set.
	expect    uint64
	hasExpect bool
}

// Txn collects writes to keys of one bucket and commits them as one atomic
// batch. A Txn is not safe for concurrent use; it may be committed once.
type Txn struct {
	js     jetstream.JetStream
	bucket string
	ops    []operation
	keys   map[string]bool
	done   bool
}

// Begin starts a transaction on bucket. Nothing is sent before Commit.
func Begin(js jetstream.JetStream, bucket string) *Txn {
	return &Txn{js: js, bucket: bucket, keys: map[string]bool{}}
}

// Result is what a committed transaction wrote.
type Result struct {
	// Revision is the bucket revision of the transaction's last write.
	Revision uint64 `json:"revision"`
	// Writes lists every operation in the order it was added, with the
	// revision it got.
	Writes []Write `json:"writes"`
}

// Write is one applied operation of a committed transaction.
type Write struct {
	Op       Op     `json:"op"`
	Key      string `json:"key"`
	Revision uint64 `json:"revision"`
}

// ConflictError reports a condition that did not hold at commit time: a
// create of a key that has a value, or an update or delete at a revision
// that is not the key's latest. Nothing of the transaction was applied.
type ConflictError struct {
	Op  Op
	Key string
	// Expected is the revision the operation required (0: absent).
	Expected uint64
	// Current is the key's latest revision read after the failure (0:
	// the key has no message); CurrentOp tells whether it is a value or a
	// delete or purge marker.
	Current   uint64
	CurrentOp jetstream.KeyValueOp
	// Err is the server's error.
	Err error
}

func (e *ConflictError) Error() string {
	if e.Op == OpCreate {
		return fmt.Sprintf("kvtxn: condition failed: create %q: key exists at revision %d", e.Key, e.Current)
	}
	if e.Current == 0 {
		return fmt.Sprintf("kvtxn: condition failed: %s %q at revision %d: key has no revision", e.Op, e.Key, e.Expected)
	}
	return fmt.Sprintf("kvtxn: condition failed: %s %q at revision %d: current revision is %d", e.Op, e.Key, e.Expected, e.Current)
}

// Unwrap returns ErrConflict and the server's error.
func (e *ConflictError) Unwrap() []error { return []error{ErrConflict, e.Err} }

func (t *Txn) add(o operation) error {
	if t.done {
		return ErrDone
	}
	if !validKey(o.key) {
		return fmt.Errorf("%w: %q", ErrInvalidKey, o.key)
	}
	if t.keys[o.key] {
		return fmt.Errorf("%w: %q", ErrDuplicateKey, o.key)
	}
	t.keys[o.key] = true
	t.ops = append(t.ops, o)
	return nil
}

// Put sets key to value unconditionally.
func (t *Txn) Put(key string, value []byte) error {
	return t.add(operation{op: OpPut, key: key, value: value})
}

// Create sets key to value only if the key has no value: it never had one,
// or its latest entry is a delete or purge marker (as nats.go's Create).
func (t *Txn) Create(key string, value []byte) error {
	return t.add(operation{op: OpCreate, key: key, value: value, hasExpect: true})
}

// Update sets key to value only if the key's latest revision is rev.
func (t *Txn) Update(key string, value []byte, rev uint64) error {
	return t.add(operation{op: OpUpdate, key: key, value: value, expect: rev, hasExpect: true})
}

// Delete writes a delete marker for key, unconditionally.
func (t *Txn) Delete(key string) error {
	return t.add(operation{op: OpDelete, key: key})
}

// DeleteAt writes a delete marker for key only if the key's latest revision
// is rev.
func (t *Txn) DeleteAt(key string, rev uint64) error {
	return t.add(operation{op: OpDelete, key: key, expect: rev, hasExpect: true})
}

// Purge writes a purge marker for key that removes its older history
// (Nats-Rollup: sub), unconditionally.
func (t *Txn) Purge(key string) error {
	return t.add(operation{op: OpPurge, key: key})
}

// Len returns the number of operations added so far.
func (t *Txn) Len() int { return len(t.ops) }

// Commit sends the transaction as one atomic batch and returns the revision
// of every write. On a failed condition it returns a [*ConflictError] naming
// the first failing key (in the order the operations were added) and that
// key's current revision, and nothing is applied. A create of a key whose
// latest entry is a delete or purge marker is retried with the marker's
// revision as its condition (at most three times), as nats.go's Create does.
//
// When the server's answer is lost (a timeout), the transaction may or may
// not have been applied: read the keys to find out.
func (t *Txn) Commit(ctx context.Context) (*Result, error) {
	if t.done {
		return nil, ErrDone
	}
	if len(t.ops) == 0 {
		return nil, ErrEmpty
	}
	for attempt := 0; ; attempt++ {
		ack, err := jetstreamext.PublishMsgBatch(ctx, t.js, t.messages())
		if err == nil {
			t.done = true
			return t.result(ack)
		}
		var apiErr *jetstream.APIError
		if !errors.As(err, &apiErr) {
			return nil, fmt.Errorf("kvtxn: commit on bucket %q: %w", t.bucket, err)
		}
		switch apiErr.ErrorCode {
		case errCodeAtomicDisabled:
			return nil, fmt.Errorf("%w %q: %w", ErrNotEnabled, t.bucket, err)
		case errCodeWrongLastSequence:
		default:
			return nil, fmt.Errorf("kvtxn: commit on bucket %q: %w", t.bucket, err)
		}
		retry, cerr := t.explainConflict(ctx, err)
		switch {
		case cerr != nil:
			return nil, cerr
		case !retry:
			return nil, fmt.Errorf("%w on bucket %q, but every key matched its condition when read again (retry the transaction): %w", ErrConflict, t.bucket, err)
		case attempt+1 >= maxCreateRetries:
			return nil, fmt.Errorf("kvtxn: commit on bucket %q: a create kept failing over keys deleted again and again (%d attempts): %w", t.bucket, maxCreateRetries, err)
		}
	}
}

// messages builds the batch: one message per operation on $KV.<bucket>.<key>.
func (t *Txn) messages() []*nats.Msg {
	msgs := make([]*nats.Msg, len(t.ops))
	for i, o := range t.ops {
		m := &nats.Msg{Subject: t.subject(o.key), Data: o.value, Header: nats.Header{}}
		switch o.op {
		case OpDelete:
			m.Header.Set(kvOperationHeader, kvDelete)
			m.Data = nil
		case OpPurge:
			m.Header.Set(kvOperationHeader, kvPurge)
			m.Header.Set(rollupHeader, rollupSubject)
			m.Data = nil
		}
		if o.hasExpect {
			m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(o.expect, 10))
		}
		msgs[i] = m
	}
	return msgs
}

// result maps the commit PubAck to the writes' revisions: the batch's
// messages are stored with consecutive sequences ending at ack.Sequence.
func (t *Txn) result(ack *jetstreamext.BatchAck) (*Result, error) {
	n := uint64(len(t.ops))
	if ack.BatchSize != n || ack.Sequence < n {
		return nil, fmt.Errorf("kvtxn: commit on bucket %q: acknowledgement for %d messages at sequence %d, sent %d", t.bucket, ack.BatchSize, ack.Sequence, n)
	}
	first := ack.Sequence - n + 1
	r := &Result{Revision: ack.Sequence, Writes: make([]Write, len(t.ops))}
	for i, o := range t.ops {
		r.Writes[i] = Write{Op: o.op, Key: o.key, Revision: first + uint64(i)}
	}
	return r, nil
}

// explainConflict reads the current revisions of the transaction's
// conditional keys after a "wrong last sequence" failure (the server names
// only the actual sequence, not the key). It returns a *ConflictError for
// the first condition that does not hold. Creates of keys whose latest
// entry is a delete or purge marker get the marker's revision as their
// condition, and retry is true when that was the only reason for failing.
func (t *Txn) explainConflict(ctx context.Context, serverErr error) (retry bool, err error) {
	var keys []string
	for _, o := range t.ops {
		if o.hasExpect {
			keys = append(keys, o.key)
		}
	}
	snap, err := GetMany(ctx, t.js, t.bucket, keys)
	if err != nil {
		return false, fmt.Errorf("kvtxn: commit on bucket %q failed (%w); reading the keys' revisions to find the failed condition also failed: %v", t.bucket, serverErr, err)
	}
	current := map[string]Entry{}
	for _, e := range snap.Entries {
		current[e.Key] = e
	}
	for i := range t.ops {
		o := &t.ops[i]
		if !o.hasExpect {
			continue
		}
		cur, ok := current[o.key] // zero Revision when the key has no message
		if cur.Revision == o.expect {
			continue
		}
		if o.op == OpCreate && ok && cur.Operation != jetstream.KeyValuePut {
			o.expect = cur.Revision
			retry = true
			continue
		}
		ce := &ConflictError{Op: o.op, Key: o.key, Expected: o.expect, Err: serverErr}
		if ok {
			ce.Current, ce.CurrentOp = cur.Revision, cur.Operation
		}
		return false, ce
	}
	return retry, nil
}

func (t *Txn) subject(key string) string { return "$KV." + t.bucket + "." + key }
