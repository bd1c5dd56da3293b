package store

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// The sync policy, with nats-server's meaning. Both policies use the
// same group commit: a writer commits its batch to Pebble without
// waiting (under its stream lock), takes a ticket, releases the lock and
// waits for the group goroutine, which asks Pebble once for a WAL sync
// covering every ticket taken before it started (db.LogData(nil, Sync):
// Pebble writes the buffered WAL tail with write(2), then syncs the
// file). Concurrent writers share one flush. What the sync means
// differs:
//
// Default (interval): the WAL files are wrapped (syncFS) so that the
// group's sync is no fsync: when the ticket is served, the WAL bytes
// are in the operating system, so a process crash (kill -9) loses
// nothing acknowledged. A real fsync happens every SyncInterval (2
// minutes by default), on Close, when a WAL file is closed, and for
// stream create and delete. Power loss can lose up to SyncInterval of
// acknowledged writes.
//
// SyncAlways: the WAL files are not wrapped, the group's sync is an
// fsync, and no acknowledged write is lost to a crash or power loss.
//
// Readers obey the same watermark (durable): a read that observed a
// stream's state waits, outside the stream lock, for the ticket of the
// newest write set applied to that stream (stream.unsettled) before it
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

// commit commits a batch without waiting for the disk and returns the
// group-commit ticket that covers it: the caller waits for it (durable)
// outside its stream lock before it acknowledges or shows the write.
func (s *Store) commit(b *pebble.Batch) (uint64, error) {
	if err := b.Commit(pebble.NoSync); err != nil {
		return 0, err
	}
	return s.group.ticket(), nil
}

// durable waits until the write sets up to ticket are durable under the
// sync policy (in the OS by default, on stable storage with SyncAlways).
// Ticket 0, and any ticket of a store without a database, is durable at
// once.
func (s *Store) durable(ticket uint64) error {
	if ticket == 0 || s.group == nil {
		return nil
	}
	return s.group.wait(ticket)
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

// groupSync is the group commit. A writer takes a ticket after its batch
// is committed (so the batch is in the WAL buffer before any sync the
// ticket can be served by) and waits for done to reach it; the loop
// syncs once for all tickets taken before it started.
type groupSync struct {
	sync func() error
	// done mirrors mu.done for waiters' lock-free fast path.
	done    atomic.Uint64
	flushes atomic.Uint64 // syncs made, for tests
	mu      struct {
		sync.Mutex
		cond     sync.Cond
		taken    uint64
		done     uint64
		err      error
		stopping bool
	}
}

func newGroupSync(sync func() error) *groupSync {
	g := &groupSync{sync: sync}
	g.mu.cond.L = &g.mu
	return g
}

func (g *groupSync) ticket() uint64 {
	g.mu.Lock()
	g.mu.taken++
	t := g.mu.taken
	g.mu.cond.Broadcast()
	g.mu.Unlock()
	return t
}

// wait returns once ticket t is served, or the first sync error.
func (g *groupSync) wait(t uint64) error {
	if g.done.Load() >= t {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.mu.done < t && g.mu.err == nil {
		g.mu.cond.Wait()
	}
	if g.mu.done >= t {
		return nil
	}
	return g.mu.err
}

func (g *groupSync) loop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for {
		for g.mu.done == g.mu.taken && !g.mu.stopping {
			g.mu.cond.Wait()
		}
		if g.mu.done == g.mu.taken {
			return
		}
		target := g.mu.taken
		g.mu.Unlock()
		err := g.sync()
		g.flushes.Add(1)
		g.mu.Lock()
		if err != nil {
			// The WAL can no longer be trusted: fail every waiter,
			// now and later (Pebble's own WAL errors are sticky too).
			if g.mu.err == nil {
				g.mu.err = err
			}
		} else {
			g.mu.done = target
			g.done.Store(target)
		}
		g.mu.cond.Broadcast()
		if g.mu.err != nil {
			// Serve no more tickets; waiters see the error.
			for !g.mu.stopping {
				g.mu.cond.Wait()
			}
			return
		}
	}
}

// stop makes the loop return once every ticket taken is served.
func (g *groupSync) stop() {
	g.mu.Lock()
	g.mu.stopping = true
	g.mu.cond.Broadcast()
	g.mu.Unlock()
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
