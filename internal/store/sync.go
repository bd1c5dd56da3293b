package store

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// The sync policy, with nats-server's meaning.
//
// Default (interval): appends commit to Pebble without waiting for the
// disk. Pebble keeps the tail of its write-ahead log in a user-space
// buffer until someone asks for a sync, so a flusher goroutine asks for
// one right after writes (at most once a millisecond): the WAL bytes
// reach the operating system within about a millisecond and survive a
// process crash (kill -9). The WAL files are wrapped (syncFS) so that
// those requests do not fsync; a real fsync happens every SyncInterval
// (2 minutes by default), on Close, and for stream create and delete.
// Power loss can lose up to SyncInterval of acknowledged writes.
//
// SyncAlways: every append commits, then waits for a group fsync: one
// goroutine fsyncs the WAL for every writer that committed before it
// started, so concurrent writers share fsyncs. No acknowledged append is
// lost to a crash or power loss.

const (
	walCategory         vfs.DiskWriteCategory = "pebble-wal"
	defaultSyncInterval                       = 2 * time.Minute
	flushGap                                  = time.Millisecond
)

// syncFS passes everything to the real file system, except that the
// Sync calls on WAL files are skipped unless the policy is SyncAlways or
// a real sync is being forced.
type syncFS struct {
	vfs.FS
	always bool
	force  atomic.Int32
}

func (fs *syncFS) real() bool { return fs.always || fs.force.Load() > 0 }

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

func (f *walFile) SyncData() error {
	if f.fs.real() {
		return f.File.SyncData()
	}
	return nil
}

func (f *walFile) SyncTo(length int64) (bool, error) {
	if f.fs.real() {
		return f.File.SyncTo(length)
	}
	return false, nil
}

// commit commits a batch under the sync policy and returns the wait
// function of backend.apply.
func (s *Store) commit(b *pebble.Batch) (func() error, error) {
	if err := b.Commit(pebble.NoSync); err != nil {
		return nil, err
	}
	if s.group != nil {
		ticket := s.group.ticket()
		return func() error { return s.group.wait(ticket) }, nil
	}
	s.flusher.dirty()
	return nil, nil
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

// groupSync is the group commit of SyncAlways. A writer takes a ticket
// after its batch is committed (so the batch is in the WAL before any
// sync the ticket can be served by) and waits for done to reach it; the
// loop fsyncs once for all tickets taken before it started.
type groupSync struct {
	sync     func() error
	mu       sync.Mutex
	cond     sync.Cond
	taken    uint64
	done     uint64
	err      error
	stopping bool
}

func newGroupSync(sync func() error) *groupSync {
	g := &groupSync{sync: sync}
	g.cond.L = &g.mu
	return g
}

func (g *groupSync) ticket() uint64 {
	g.mu.Lock()
	g.taken++
	t := g.taken
	g.cond.Broadcast()
	g.mu.Unlock()
	return t
}

func (g *groupSync) wait(t uint64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.done < t && g.err == nil {
		g.cond.Wait()
	}
	return g.err
}

func (g *groupSync) loop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for {
		for g.done == g.taken && !g.stopping {
			g.cond.Wait()
		}
		if g.done == g.taken {
			return
		}
		target := g.taken
		g.mu.Unlock()
		err := g.sync()
		g.mu.Lock()
		if err != nil && g.err == nil {
			g.err = err
		}
		g.done = target
		g.cond.Broadcast()
	}
}

func (g *groupSync) stop() {
	g.mu.Lock()
	g.stopping = true
	g.cond.Broadcast()
	g.mu.Unlock()
}

// flusher pushes the WAL to the operating system soon after writes and
// fsyncs it every interval (default policy).
type flusher struct {
	flush    func() error // WAL to the OS, no fsync
	sync     func() error // WAL fsync
	interval time.Duration
	signal   chan struct{}
	quit     chan struct{}
	done     chan struct{}
	onError  func(error)
}

func (f *flusher) dirty() {
	select {
	case f.signal <- struct{}{}:
	default:
	}
}

func (f *flusher) loop() {
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
		case <-f.signal:
			if err := f.flush(); err != nil {
				f.onError(err)
			}
			// Coalesce the writes of the next millisecond into one
			// flush; a timer, not a synchronisation.
			t := time.NewTimer(flushGap)
			select {
			case <-t.C:
			case <-f.quit:
				t.Stop()
				return
			}
		}
	}
}
