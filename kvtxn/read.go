package kvtxn

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

var (
	// ErrRevisionTooOld is returned by a read at a revision the bucket's
	// retained history cannot answer exactly (see [AtRevision]).
	ErrRevisionTooOld = errors.New("kvtxn: revision too old for the bucket's history")
	// ErrRevisionInFuture is returned by a read at a revision the bucket
	// has not reached yet.
	ErrRevisionInFuture = errors.New("kvtxn: revision not reached yet")
	// ErrNoKeys is returned by GetMany without keys.
	ErrNoKeys = errors.New("kvtxn: no keys to read")
)

// Entry is a key's latest entry as of a snapshot's revision.
type Entry struct {
	Key      string
	Value    []byte
	Revision uint64
	Created  time.Time
	// Operation is jetstream.KeyValuePut for a value, KeyValueDelete or
	// KeyValuePurge for a marker (the key is deleted; Value is empty).
	Operation jetstream.KeyValueOp
}

// Snapshot is the state of some keys of a bucket as of one revision.
type Snapshot struct {
	// Revision is the bucket revision the snapshot was taken at: every
	// entry is the key's latest entry with a revision ≤ Revision. It is
	// never inside an atomic batch (a transaction): a read that landed in
	// one is made as of the revision just before it. It is 0 for a read
	// at the latest revision that matched no key.
	Revision uint64
	// Entries holds one entry per key that had an entry at Revision,
	// delete and purge markers included, sorted by key. Keys without any
	// entry are left out.
	Entries []Entry
}

// Values returns the keys that had a value at the snapshot's revision (no
// markers) with their values.
func (s *Snapshot) Values() map[string][]byte {
	m := make(map[string][]byte, len(s.Entries))
	for _, e := range s.Entries {
		if e.Operation == jetstream.KeyValuePut {
			m[e.Key] = e.Value
		}
	}
	return m
}

// ReadOption configures GetMany and GetAll.
type ReadOption func(*readOptions)

type readOptions struct {
	revision uint64
}

// AtRevision reads the keys as of bucket revision rev instead of the
// latest. The read fails with ErrRevisionTooOld unless its answer is
// provably exact: either the bucket's stream has removed no message with a
// sequence ≤ rev (its first sequence is 1 and no deleted sequence is ≤ rev),
// or, for GetMany only, every requested key still has a retained entry
// ≤ rev. KV removes a key's messages oldest first (history limit, purge,
// max age, compaction), so a retained entry ≤ rev proves no newer entry
// ≤ rev was removed; keys without one are unknowable once anything ≤ rev
// is gone. Buckets that allow per-message TTLs only get the first rule.
//
// When rev falls inside a transaction (an atomic batch), the read is made
// as of the revision just before the transaction, and the snapshot's
// Revision says so.
func AtRevision(rev uint64) ReadOption {
	return func(o *readOptions) { o.revision = rev }
}

// GetMany reads keys of bucket as of one revision, the latest unless
// [AtRevision] is given, with one batch direct get (multi_last). Keys
// without an entry at that revision are absent from the snapshot; a key
// named more than once has one entry.
func GetMany(ctx context.Context, js jetstream.JetStream, bucket string, keys []string, opts ...ReadOption) (*Snapshot, error) {
	if len(keys) == 0 {
		return nil, ErrNoKeys
	}
	// A key named twice is read once: in two requests of one read it
	// would come back twice.
	unique := make([]string, 0, len(keys))
	seen := make(map[string]bool, len(keys))
	subjects := make([]string, 0, len(keys))
	for _, k := range keys {
		if !validKey(k) {
			return nil, fmt.Errorf("%w: %q", ErrInvalidKey, k)
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		unique = append(unique, k)
		subjects = append(subjects, "$KV."+bucket+"."+k)
	}
	return read(ctx, js, bucket, subjects, unique, opts)
}

// GetAll reads every key of bucket matching filter (a key pattern with the
// NATS wildcards * and >; "" or ">" for all keys) as of one revision, the
// latest unless [AtRevision] is given, with one batch direct get.
//
// nats-server answers at most 1024 keys this way ("413 Too Many Results");
// cairn-server streams all of them.
func GetAll(ctx context.Context, js jetstream.JetStream, bucket, filter string, opts ...ReadOption) (*Snapshot, error) {
	if filter == "" {
		filter = ">"
	}
	if !validFilter(filter) {
		return nil, fmt.Errorf("%w: filter %q", ErrInvalidKey, filter)
	}
	return read(ctx, js, bucket, []string{"$KV." + bucket + "." + filter}, nil, opts)
}

// maxLatestRetries bounds how often a read at the latest revision is
// repeated when it landed in the middle of a batch being stored, before it
// settles for the revision just before that batch.
const maxLatestRetries = 8

func read(ctx context.Context, js jetstream.JetStream, bucket string, subjects, keys []string, opts []ReadOption) (*Snapshot, error) {
	var o readOptions
	for _, opt := range opts {
		opt(&o)
	}
	stream := "KV_" + bucket
	if o.revision > 0 {
		// A revision beyond the bucket's last is refused before reading:
		// its answer could still change.
		info, err := streamInfo(ctx, js, bucket, false)
		if err != nil {
			return nil, err
		}
		if o.revision > info.State.LastSeq {
			return nil, fmt.Errorf("%w: bucket %q is at revision %d, asked %d", ErrRevisionInFuture, bucket, info.State.LastSeq, o.revision)
		}
	}
	revision, check := o.revision, o.revision > 0
	for attempt := 0; ; attempt++ {
		res, err := multiLast(ctx, js, stream, subjects, revision)
		if err != nil {
			return nil, fmt.Errorf("kvtxn: read bucket %q: %w", bucket, err)
		}
		if res.requests > 1 && !check {
			// Each request of the read saw the store at its own time: a
			// write in between may have removed a message at or below
			// upTo. None did if the bucket did not move.
			moved, err := movedPast(ctx, js, bucket, res.upTo)
			if err != nil {
				return nil, err
			}
			if moved && attempt < maxLatestRetries {
				continue
			}
			check = check || moved
		}
		known := make(map[uint64]nats.Header, len(res.msgs))
		for _, m := range res.msgs {
			known[m.Sequence] = m.Header
		}
		boundary, err := batchBoundary(ctx, js, stream, res.upTo, known)
		if err != nil {
			return nil, fmt.Errorf("kvtxn: read bucket %q: %w", bucket, err)
		}
		if boundary == res.upTo {
			snap := snapshot(bucket, res.upTo, res.msgs)
			if check {
				// Checked after the read: removals only grow, so a bucket
				// that has lost nothing ≤ revision now had lost nothing
				// when it was read.
				if err := checkHistory(ctx, js, bucket, res.upTo, keys, snap); err != nil {
					return nil, err
				}
			}
			return snap, nil
		}
		if revision == 0 && attempt < maxLatestRetries {
			// The batch is being stored: it will be whole in a moment.
			if err := pause(ctx, attempt); err != nil {
				return nil, err
			}
			continue
		}
		revision, check = boundary, true
		if boundary == 0 {
			return &Snapshot{}, nil
		}
	}
}

// movedPast reports whether bucket's last revision is beyond rev.
func movedPast(ctx context.Context, js jetstream.JetStream, bucket string, rev uint64) (bool, error) {
	info, err := streamInfo(ctx, js, bucket, false)
	if err != nil {
		return false, err
	}
	return info.State.LastSeq > rev, nil
}

// pause waits a little longer at each attempt: 0.5, 1, 2, 4 … ms.
func pause(ctx context.Context, attempt int) error {
	t := time.NewTimer(500 * time.Microsecond << min(attempt, 5))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// snapshot turns batch direct get replies into a Snapshot at revision.
func snapshot(bucket string, revision uint64, msgs []*jetstream.RawStreamMsg) *Snapshot {
	snap := &Snapshot{Revision: revision, Entries: make([]Entry, 0, len(msgs))}
	prefix := "$KV." + bucket + "."
	for _, m := range msgs {
		e := Entry{
			Key:       strings.TrimPrefix(m.Subject, prefix),
			Value:     m.Data,
			Revision:  m.Sequence,
			Created:   m.Time,
			Operation: jetstream.KeyValuePut,
		}
		switch m.Header.Get(kvOperationHeader) {
		case kvDelete:
			e.Operation = jetstream.KeyValueDelete
		case kvPurge:
			e.Operation = jetstream.KeyValuePurge
		}
		snap.Entries = append(snap.Entries, e)
	}
	sort.Slice(snap.Entries, func(i, j int) bool { return snap.Entries[i].Key < snap.Entries[j].Key })
	return snap
}

// checkHistory applies the rule documented at [AtRevision].
func checkHistory(ctx context.Context, js jetstream.JetStream, bucket string, rev uint64, keys []string, snap *Snapshot) error {
	info, err := streamInfo(ctx, js, bucket, false)
	if err != nil {
		return err
	}
	lost := lostAtOrBelow(info, rev)
	if lost && info.State.NumDeleted > 0 && info.State.FirstSeq <= 1 {
		// Only interior deletions: look at which sequences they are.
		if info, err = streamInfo(ctx, js, bucket, true); err != nil {
			return err
		}
		lost = lostAtOrBelow(info, rev)
	}
	if !lost {
		return nil
	}
	if keys != nil && !info.Config.AllowMsgTTL {
		have := make(map[string]bool, len(snap.Entries))
		for _, e := range snap.Entries {
			have[e.Key] = true
		}
		var missing []string
		for _, k := range keys {
			if !have[k] {
				missing = append(missing, k)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		return fmt.Errorf("%w: bucket %q has removed entries at or below revision %d, and %s no retained entry at or below it (first retained revision %d)",
			ErrRevisionTooOld, bucket, rev, describeKeys(missing), info.State.FirstSeq)
	}
	return fmt.Errorf("%w: bucket %q has removed entries at or below revision %d (first retained revision %d)", ErrRevisionTooOld, bucket, rev, info.State.FirstSeq)
}

// lostAtOrBelow reports whether the stream may have removed a message with
// a sequence ≤ rev. Without deleted details, any interior deletion counts.
func lostAtOrBelow(info *jetstream.StreamInfo, rev uint64) bool {
	if info.State.FirstSeq > 1 {
		return true
	}
	if info.State.NumDeleted == 0 {
		return false
	}
	if info.State.Deleted == nil {
		return true
	}
	for _, d := range info.State.Deleted {
		if d <= rev {
			return true
		}
	}
	return false
}

func describeKeys(keys []string) string {
	const shown = 5
	if len(keys) == 1 {
		return fmt.Sprintf("key %q has", keys[0])
	}
	if len(keys) <= shown {
		return fmt.Sprintf("keys %q have", keys)
	}
	return fmt.Sprintf("keys %q and %d more have", keys[:shown], len(keys)-shown)
}

func streamInfo(ctx context.Context, js jetstream.JetStream, bucket string, deleted bool) (*jetstream.StreamInfo, error) {
	s, err := js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("kvtxn: bucket %q: %w", bucket, jetstream.ErrBucketNotFound)
		}
		return nil, fmt.Errorf("kvtxn: bucket %q: %w", bucket, err)
	}
	if !deleted {
		return s.CachedInfo(), nil
	}
	info, err := s.Info(ctx, jetstream.WithDeletedDetails(true))
	if err != nil {
		return nil, fmt.Errorf("kvtxn: bucket %q: %w", bucket, err)
	}
	return info, nil
}
