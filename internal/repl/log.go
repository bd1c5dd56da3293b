package repl

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// ErrCorrupt marks a raft log that cannot be trusted (a record that does
// not decode, entries with a gap). Opening refuses it; the node's
// directory must be repaired or the node wiped and re-joined.
var ErrCorrupt = errors.New("repl: corrupt raft log")

// ErrClosed is returned by operations on a closed DB or stopped Node.
var ErrClosed = errors.New("repl: closed")

// DB is the durable home of every Raft group of one node: one Pebble
// database, keys prefixed by group id (see keys below). A DB opened
// with an empty directory keeps nothing (memory-only servers, tests):
// every write succeeds and Load finds nothing.
//
// Key schema (all integers big endian):
//
//	'g' group(8) 'h'            HardState (protobuf)
//	'g' group(8) 's'            the last snapshot (protobuf, with data)
//	'g' group(8) 'e' index(8)   an entry (protobuf)
//	'g' group(8) 'm' name       application metadata (SetMeta)
//
// Methods are safe for concurrent use by different groups; one group's
// Log is written by its Node's goroutine only.
type DB struct {
	dir string
	db  *pebble.DB // nil: memory only
}

// OpenDB opens (creating if need be) the raft database in dir; "" keeps
// nothing.
func OpenDB(dir string) (*DB, error) { return OpenDBWith(dir, DBOptions{}) }

// DBOptions configure a DB.
type DBOptions struct {
	// NoFsync: a synced write reaches the operating system (write(2)
	// of the WAL) but its fsync is skipped, as the store's default sync
	// policy: the log survives the process's crash (kill -9), not a
	// power loss. WAL files are still fsynced when Pebble closes them.
	NoFsync bool
	// MemTableSize is Pebble's memtable size (default 1 MiB: the
	// metadata group's log is small and rare).
	MemTableSize uint64
}

// OpenDBWith is OpenDB with options.
func OpenDBWith(dir string, o DBOptions) (*DB, error) {
	if dir == "" {
		return &DB{}, nil
	}
	fs := vfs.Default
	if o.NoFsync {
		fs = noFsyncFS{vfs.Default}
	}
	db, err := pebble.Open(dir, &pebble.Options{
		FS:                 fs,
		FormatMajorVersion: pebble.FormatNewest,
		MemTableSize:       cmp.Or(o.MemTableSize, 1<<20),
		Logger:             quietLogger{},
		// Pebble's default for a corrupt file is Fatalf; reads
		// return the corruption as an error instead.
		EventListener: &pebble.EventListener{DataCorruption: func(pebble.DataCorruptionInfo) {}},
	})
	if err != nil {
		if pebble.IsCorruptionError(err) {
			return nil, fmt.Errorf("%w: opening %s: %v", ErrCorrupt, dir, err)
		}
		return nil, fmt.Errorf("repl: opening %s: %w", dir, err)
	}
	return &DB{dir: dir, db: db}, nil
}

// Close closes the database. Every Node using it must be stopped first.
func (d *DB) Close() error {
	if d.db == nil {
		return nil
	}
	err := d.db.Close()
	d.db = nil
	return err
}

// Log returns the log of one group.
func (d *DB) Log(group uint64) *Log { return &Log{d: d, group: group} }

// Log is one group's durable Raft state inside a DB.
type Log struct {
	d     *DB
	group uint64
	// last is the index of the last entry saved, known once Load ran
	// (Save is then called by one goroutine): a Save that appends after
	// it has nothing to replace, and writes no range deletion (one per
	// Ready would fill the memtable with tombstones).
	last   uint64
	loaded bool
}

// LogState is what Load finds.
type LogState struct {
	HardState *raftpb.HardState // nil when none was saved
	Snapshot  *raftpb.Snapshot  // nil when none was saved
	Entries   []*raftpb.Entry   // after the snapshot, contiguous
}

// Empty reports whether nothing was ever saved.
func (s LogState) Empty() bool {
	return s.HardState == nil && s.Snapshot == nil && len(s.Entries) == 0
}

func (l *Log) key(kind byte, extra int) []byte {
	k := make([]byte, 0, 10+extra)
	k = append(k, 'g')
	k = binary.BigEndian.AppendUint64(k, l.group)
	return append(k, kind)
}

func (l *Log) entryKey(index uint64) []byte {
	return binary.BigEndian.AppendUint64(l.key('e', 8), index)
}

// Load reads the group's state. Damage is an error matching ErrCorrupt.
func (l *Log) Load() (LogState, error) {
	var st LogState
	db := l.d.db
	if db == nil {
		return st, nil
	}
	if v, ok, err := l.get(l.key('s', 0)); err != nil {
		return st, err
	} else if ok {
		st.Snapshot = new(raftpb.Snapshot)
		if err := proto.Unmarshal(v, st.Snapshot); err != nil {
			return st, l.corrupt("snapshot", err)
		}
	}
	if v, ok, err := l.get(l.key('h', 0)); err != nil {
		return st, err
	} else if ok {
		st.HardState = new(raftpb.HardState)
		if err := proto.Unmarshal(v, st.HardState); err != nil {
			return st, l.corrupt("hard state", err)
		}
	}
	after := st.Snapshot.GetMetadata().GetIndex()
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: l.entryKey(after + 1), UpperBound: l.entryKey(math.MaxUint64)})
	if err != nil {
		return st, fmt.Errorf("repl: reading log: %w", err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		e := new(raftpb.Entry)
		if err := proto.Unmarshal(it.Value(), e); err != nil {
			return st, l.corrupt("entry", err)
		}
		want := after + 1 + uint64(len(st.Entries))
		if e.GetIndex() != want || binary.BigEndian.Uint64(it.Key()[10:]) != want {
			return st, l.corrupt("entries", fmt.Errorf("index %d where %d was expected", e.GetIndex(), want))
		}
		st.Entries = append(st.Entries, e)
	}
	if err := it.Error(); err != nil {
		return st, l.corrupt("entries", err)
	}
	l.last, l.loaded = after+uint64(len(st.Entries)), true
	return st, nil
}

func (l *Log) corrupt(what string, err error) error {
	return fmt.Errorf("%w: group %d in %s: %s: %v", ErrCorrupt, l.group, l.d.dir, what, err)
}

func (l *Log) get(k []byte) ([]byte, bool, error) {
	v, closer, err := l.d.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		if pebble.IsCorruptionError(err) {
			return nil, false, l.corrupt("read", err)
		}
		return nil, false, fmt.Errorf("repl: reading %s: %w", l.d.dir, err)
	}
	v = append([]byte(nil), v...)
	closer.Close()
	return v, true, nil
}

// Save persists one Ready's worth of state in one batch: entries
// (replacing any saved at or after the first one's index), the hard
// state and the snapshot (dropping the entries it covers). sync makes
// it durable before returning, as Raft requires before messages go out.
func (l *Log) Save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot, sync bool) error {
	if l.d.db == nil {
		return nil
	}
	b := l.d.db.NewBatch()
	defer b.Close()
	if snap != nil && snap.GetMetadata().GetIndex() > 0 {
		// A snapshot from the leader replaces the whole log, as in
		// raft.MemoryStorage.ApplySnapshot.
		if err := l.putSnapshot(b, snap, math.MaxUint64); err != nil {
			return err
		}
		l.last = snap.GetMetadata().GetIndex()
	}
	if len(ents) > 0 {
		if !l.loaded || ents[0].GetIndex() <= l.last {
			// Entries at or after the first one are replaced.
			if err := b.DeleteRange(l.entryKey(ents[0].GetIndex()), l.entryKey(math.MaxUint64), nil); err != nil {
				return err
			}
		}
		l.last = ents[len(ents)-1].GetIndex()
		for _, e := range ents {
			v, err := proto.Marshal(e)
			if err != nil {
				return fmt.Errorf("repl: encoding entry: %w", err)
			}
			if err := b.Set(l.entryKey(e.GetIndex()), v, nil); err != nil {
				return err
			}
		}
	}
	if hs != nil {
		v, err := proto.Marshal(hs)
		if err != nil {
			return fmt.Errorf("repl: encoding hard state: %w", err)
		}
		if err := b.Set(l.key('h', 0), v, nil); err != nil {
			return err
		}
	}
	opt := pebble.NoSync
	// A received snapshot is always written through: raft.MustSync
	// ignores snapshots (a follower given one in its term changes only
	// its commit index), yet the follower acknowledges the snapshot's
	// index as soon as Save returns, and a NoSync batch may still be in
	// Pebble's WAL buffer then: killed, the follower would come back
	// with the log it had before, below what the leader counts it holding
	// (etcd also syncs every snapshot it saves).
	if sync || (snap != nil && snap.GetMetadata().GetIndex() > 0) {
		opt = pebble.Sync
	}
	if err := b.Commit(opt); err != nil {
		return fmt.Errorf("repl: writing raft log in %s: %w", l.d.dir, err)
	}
	return nil
}

// putSnapshot saves snap and deletes the entries before index upTo.
func (l *Log) putSnapshot(b *pebble.Batch, snap *raftpb.Snapshot, upTo uint64) error {
	v, err := proto.Marshal(snap)
	if err != nil {
		return fmt.Errorf("repl: encoding snapshot: %w", err)
	}
	if err := b.Set(l.key('s', 0), v, nil); err != nil {
		return err
	}
	return b.DeleteRange(l.entryKey(0), l.entryKey(upTo), nil)
}

// Compact saves snap (taken by this node of its own state) and deletes
// the entries it covers.
func (l *Log) Compact(snap *raftpb.Snapshot) error {
	if l.d.db == nil {
		return nil
	}
	b := l.d.db.NewBatch()
	defer b.Close()
	if err := l.putSnapshot(b, snap, snap.GetMetadata().GetIndex()+1); err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("repl: writing snapshot in %s: %w", l.d.dir, err)
	}
	return nil
}

// Meta returns the application value saved under name (nil, false when
// none).
func (l *Log) Meta(name string) ([]byte, bool, error) {
	if l.d.db == nil {
		return nil, false, nil
	}
	return l.get(append(l.key('m', len(name)), name...))
}

// SetMeta durably saves an application value under name.
func (l *Log) SetMeta(name string, value []byte) error {
	if l.d.db == nil {
		return nil
	}
	if err := l.d.db.Set(append(l.key('m', len(name)), name...), value, pebble.Sync); err != nil {
		return fmt.Errorf("repl: writing %s: %w", l.d.dir, err)
	}
	return nil
}

// quietLogger drops Pebble's informational lines; errors reach the
// caller as returned errors.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// noFsyncFS skips the fsync of WAL files (DBOptions.NoFsync).
type noFsyncFS struct{ vfs.FS }

func (fs noFsyncFS) Create(name string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, cat)
	return wrapWAL(f, err, name)
}

func (fs noFsyncFS) ReuseForWrite(oldname, newname string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, cat)
	return wrapWAL(f, err, newname)
}

func wrapWAL(f vfs.File, err error, name string) (vfs.File, error) {
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return walFile{f}, nil
}

// walFile is a WAL file whose Sync does nothing (Pebble wrote the bytes
// with write(2) before asking for it); Close fsyncs, so that only the
// newest WAL can hold unsynced data.
type walFile struct{ vfs.File }

func (walFile) Sync() error { return nil }

// SyncData is Sync (Pebble's WAL writer syncs with it).
func (walFile) SyncData() error { return nil }

// SyncTo reports a full sync without syncing.
func (walFile) SyncTo(int64) (bool, error) { return true, nil }

func (f walFile) Close() error {
	err := f.File.Sync()
	if cerr := f.File.Close(); err == nil {
		err = cerr
	}
	return err
}
