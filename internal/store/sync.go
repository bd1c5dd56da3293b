package store

import (
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// The sync policy, with nats-server's meaning. Both policies use the
// same group commit, Pebble's own: a writer applies its batch to Pebble
// under its stream lock with a sync requested but not waited for
// (DB.ApplyNoSyncWait: the batch is in the WAL buffer and the memtable),
// releases the lock, then waits for that sync (Batch.SyncWait). Pebble's
// WAL writer serves every sync request pending when it starts with one
// write(2) of the buffered WAL tail followed by one file sync, so
// concurrent writers, of any stream, share both. What the file sync is
// differs:
//
// Default (interval): the WAL files are wrapped (syncFS) so that the
// sync is no fsync: when an append returns, its WAL bytes are in the
// operating system, so a process crash (kill -9) loses nothing
// acknowledged. A real fsync happens every SyncInterval (2 minutes by
// default), on Close, when a WAL file is closed, and for stream create
// and delete. Power loss can lose up to SyncInterval of acknowledged
// writes.
//
// SyncAlways: the WAL files are not wrapped, the sync is an fsync, and
// no acknowledged write is lost to a crash or power loss.
//
// Readers obey the same watermark (durableMark): the highest Pebble
// sequence number whose sync completed. A read that observed a stream's
// state waits, outside the stream lock, until the mark covers the
// newest write applied to that stream (stream.unsettled) before it
// returns. So nothing a reader sees can be taken back by a crash: under
// SyncAlways it is on stable storage, by default it is in the operating
// system.

const (
	walCategory         vfs.DiskWriteCategory = "pebble-wal"
	defaultSyncInterval                       = 2 * time.Minute
)

// syncFS passes everything to the real file system, except that the
// Sync calls on WAL files are skipped unless the policy is SyncAlways or
// a real sync is being forced.
type syncFS struct {
	vfs.FS
	dir       string // the store's directory
	noRecycle bool   // archiving is deleting (the default policy)
	always    bool
	force     atomic.Int32
	syncs     atomic.Uint64 // sync calls on wrapped WAL files, for tests
}

func (fs *syncFS) real() bool { return fs.always || fs.force.Load() > 0 }

// No WAL recycling under the default policy. Pebble keeps up to three
// obsolete WAL files, each up to a memtable in size, to write over later
// (an fsync then need not update the file's size); under the default
// policy that saving is nil and the files hold disk (issue 11: a third
// of a 1M-key store). Pebble recycles unless its cleaner needs the
// files' contents, which only its own ArchiveCleaner does (it renames
// obsolete files into <dir>/archive). The store uses that cleaner
// (noRecycle), and this file system turns its archiving into deleting:
// the archive directory is never made and a rename into it removes the
// file.

// archiveDir is the directory ArchiveCleaner moves files to.
func (fs *syncFS) archiveDir(dir string) bool {
	return fs.noRecycle && dir == fs.PathJoin(fs.dir, "archive")
}

func (fs *syncFS) MkdirAll(dir string, perm os.FileMode) error {
	if fs.archiveDir(dir) {
		return nil
	}
	return fs.FS.MkdirAll(dir, perm)
}

func (fs *syncFS) Rename(oldname, newname string) error {
	if fs.archiveDir(fs.PathDir(newname)) {
		return fs.FS.Remove(oldname)
	}
	return fs.FS.Rename(oldname, newname)
}

func (fs *syncFS) wrap(f vfs.File, err error, cat vfs.DiskWriteCategory) (vfs.File, error) {
	if err != nil || cat != walCategory || fs.always {
		return f, err
	}
	return &walFile{File: f, fs: fs}, nil
}

func (fs *syncFS) Create(name string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, cat)
	return fs.wrap(f, err, cat)
}

func (fs *syncFS) ReuseForWrite(oldname, newname string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, cat)
	return fs.wrap(f, err, cat)
}

type walFile struct {
	vfs.File
	fs *syncFS
}

func (f *walFile) Sync() error {
	f.fs.syncs.Add(1)
	if f.fs.real() {
		return f.File.Sync()
	}
	return nil
}

// Close fsyncs a WAL file before closing it (Pebble closes a WAL when it
// switches to the next one), so that only the newest WAL can hold
// unsynced data; Pebble's recovery tolerates a torn tail there.
func (f *walFile) Close() error {
	err := f.File.Sync()
	if cerr := f.File.Close(); err == nil {
		err = cerr
	}
	return err
}

// Preallocate does nothing. Pebble reserves 110% of the memtable size
// for each new WAL file (fallocate), so that an fsync after an append
// does not also have to write the file's new size; under the default
// policy a WAL file is fsynced only every SyncInterval and when it is
// closed, so the reservation buys nothing and would make a small store
// take tens of megabytes of disk per WAL file (issue 11). Under
// SyncAlways the files are not wrapped and keep it.
func (f *walFile) Preallocate(offset, length int64) error { return nil }

func (f *walFile) SyncData() error {
	f.fs.syncs.Add(1)
	if f.fs.real() {
		return f.File.SyncData()
	}
	return nil
}

func (f *walFile) SyncTo(length int64) (bool, error) {
	f.fs.syncs.Add(1)
	if f.fs.real() {
		return f.File.SyncTo(length)
	}
	return false, nil
}

// commit commits a batch to the WAL and the memtable without waiting for
// the disk, under the caller's stream lock, and returns the Pebble
// sequence number of its last record (the watermark a reader waits for)
// and the function that waits, outside the lock, until the batch is
// durable under the policy; it then closes the batch.
func (s *Store) commit(b *pebble.Batch) (uint64, func() error, error) {
	if err := s.db.ApplyNoSyncWait(b, pebble.Sync); err != nil {
		b.Close()
		return 0, nil, err
	}
	seq := uint64(b.SeqNum())
	if n := b.Count(); n > 0 {
		seq += uint64(n) - 1
	}
	return seq, func() error {
		err := b.SyncWait()
		b.Close()
		s.mark.settle(seq, err)
		return err
	}, nil
}

// durable waits until every batch up to Pebble sequence number seq is
// durable under the sync policy (in the OS by default, on stable storage
// with SyncAlways). 0 is durable at once.
func (s *Store) durable(seq uint64) error {
	if seq == 0 {
		return nil
	}
	return s.mark.wait(seq)
}

// commitDurable commits a batch and fsyncs it, whatever the policy.
func (s *Store) commitDurable(b *pebble.Batch) error {
	s.fs.force.Add(1)
	defer s.fs.force.Add(-1)
	return b.Commit(pebble.Sync)
}

// syncWAL fsyncs the WAL up to everything committed so far.
func (s *Store) syncWAL() error {
	s.fs.force.Add(1)
	defer s.fs.force.Add(-1)
	return s.db.LogData(nil, pebble.Sync)
}

// durableMark is the durable watermark: the highest Pebble sequence
// number whose batch's WAL sync has completed. Pebble assigns sequence
// numbers in WAL order and syncs a prefix of the WAL, so every batch
// below the mark is durable too. Writers advance it after their own
// batch's sync; readers wait for it.
type durableMark struct {
	done atomic.Uint64
	mu   struct {
		sync.Mutex
		cond    sync.Cond
		waiting int
		err     error
	}
}

func newDurableMark() *durableMark {
	d := &durableMark{}
	d.mu.cond.L = &d.mu
	return d
}

// settle records the outcome of the sync of the batch ending at seq.
func (d *durableMark) settle(seq uint64, err error) {
	if err == nil {
		for {
			cur := d.done.Load()
			if seq <= cur || d.done.CompareAndSwap(cur, seq) {
				break
			}
		}
	}
	d.mu.Lock()
	if err != nil && d.mu.err == nil {
		// The WAL can no longer be trusted: fail every waiter.
		d.mu.err = err
	}
	if d.mu.waiting > 0 {
		d.mu.cond.Broadcast()
	}
	d.mu.Unlock()
}

// wait returns once the mark reaches seq, or the first sync error.
func (d *durableMark) wait(seq uint64) error {
	if d.done.Load() >= seq {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mu.waiting++
	defer func() { d.mu.waiting-- }()
	for d.done.Load() < seq && d.mu.err == nil {
		d.mu.cond.Wait()
	}
	if d.done.Load() >= seq {
		return nil
	}
	return d.mu.err
}

// intervalSync fsyncs the WAL every interval (default policy).
type intervalSync struct {
	sync     func() error
	interval time.Duration
	quit     chan struct{}
	done     chan struct{}
	onError  func(error)
}

func (f *intervalSync) loop() {
	defer close(f.done)
	tick := time.NewTicker(f.interval)
	defer tick.Stop()
	for {
		select {
		case <-f.quit:
			return
		case <-tick.C:
			if err := f.sync(); err != nil {
				f.onError(err)
			}
		}
	}
}
