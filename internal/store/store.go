package store

import (
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Store is the server's storage: one per process. It owns the Pebble
// database in its directory, holding every file stream as a key range,
// and the memory streams. It is safe for concurrent use.
type Store struct {
	dir   string
	opts  Options
	clock Clock
	log   *slog.Logger

	db     *pebble.DB // nil without a directory
	fs     *syncFS
	mark   *durableMark  // durable watermark, both policies
	syncer *intervalSync // default policy only: the periodic fsync

	snapBudget *snapshotBudget // entries held by open snapshots

	mu struct {
		sync.Mutex
		streams map[string]*stream
		nextID  uint32
		closed  bool
	}

	nextWake atomic.Int64
	wake     chan struct{}
	quit     chan struct{}
	wg       sync.WaitGroup
}

// Open opens (creating if needed) the store in dir and loads every file
// stream, rebuilding their indexes. With dir "" the store holds memory
// streams only. Open fails with an error matching ErrCorrupt, naming the
// stream and the problem, if it finds data it cannot trust; it never
// starts on such data (docs/STORE.md says how to recover).
func Open(dir string, opts Options) (*Store, error) {
	if opts.SyncInterval <= 0 {
		opts.SyncInterval = defaultSyncInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Clock == nil {
		opts.Clock = systemClock{}
	}
	st := &Store{
		dir: dir, opts: opts, clock: opts.Clock, log: opts.Logger,
		wake: make(chan struct{}, 1),
		quit: make(chan struct{}),

		snapBudget: newSnapshotBudget(opts.MaxSnapshotEntries),
	}
	st.mu.streams = make(map[string]*stream)
	st.mu.nextID = 1
	st.mark = newDurableMark()
	st.nextWake.Store(math.MaxInt64)
	if dir != "" {
		if err := st.openDB(); err != nil {
			return nil, err
		}
	}
	st.startBackground()
	return st, nil
}

func (st *Store) openDB() error {
	base := st.opts.fs
	if base == nil {
		base = vfs.Default
	}
	if err := base.MkdirAll(st.dir, 0o755); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	st.fs = &syncFS{FS: base, dir: st.dir, noRecycle: !st.opts.SyncAlways, always: st.opts.SyncAlways}
	var cache *pebble.Cache
	if st.opts.Cache != nil {
		cache = st.opts.Cache.c
		cache.Ref()
	} else {
		cache = pebble.NewCache(limitOr(st.opts.CacheSize, DefaultCacheSize))
	}
	defer cache.Unref()
	po := &pebble.Options{
		FS:                 st.fs,
		Cache:              cache,
		Logger:             pebbleLogger{st.log},
		MemTableSize:       uint64(max(limitOr(st.opts.MemTableSize, DefaultMemTableSize), minMemTableSize)),
		FormatMajorVersion: pebble.FormatNewest,
		MaxOpenFiles:       1000,
		// Pebble's default for corruption found in a file is Fatalf; the
		// store reports it as a CorruptError from the read instead.
		EventListener: &pebble.EventListener{
			DataCorruption: func(info pebble.DataCorruptionInfo) {
				st.log.Error("store: corrupt file", "path", info.Path, "err", info.Details)
			},
		},
	}
	if !st.opts.SyncAlways {
		po.Cleaner = pebble.ArchiveCleaner{} // deletes: see syncFS.archiveDir
	}
	for i := range po.Levels {
		// A single-level index (the default, 4 KiB, splits it in two
		// levels above ~200 blocks) saves one block lookup per read.
		po.Levels[i].IndexBlockSize = 256 << 10
	}
	db, err := pebble.Open(st.dir, po)
	if err != nil {
		if pebble.IsCorruptionError(err) {
			return corruptf("", err, "opening database in %s", st.dir)
		}
		return fmt.Errorf("store: opening %s: %w", st.dir, err)
	}
	st.db = db
	if err := st.load(); err != nil {
		db.Close()
		st.db = nil
		return err
	}
	// The table files of imports a crash cut short (import.go): no
	// import of this Store runs yet, and Pebble's lock keeps any other
	// process out of the directory.
	st.removeStaleImports()
	return nil
}

func (st *Store) startBackground() {
	if st.db != nil {
		// Under the default policy the WAL files are wrapped so that
		// this sync is a write to the OS without fsync (sync.go).
		if !st.opts.SyncAlways {
			st.syncer = &intervalSync{
				sync:     st.syncWAL,
				interval: st.opts.SyncInterval,
				quit:     make(chan struct{}),
				done:     make(chan struct{}),
				onError:  func(err error) { st.log.Error("store: WAL sync failed", "err", err) },
			}
			go st.syncer.loop()
		}
	}
	if !st.opts.manualExpiry {
		st.wg.Add(1)
		go st.expireLoop()
	}
}

// CreateStream creates a stream with cfg and the opaque meta blob. It
// fails with ErrStreamExists if the name is taken. A file stream is
// created atomically and durably: after a crash it either exists whole
// or not at all.
func (st *Store) CreateStream(cfg Config, meta []byte) (Stream, error) {
	if cfg.Name == "" {
		return nil, fmt.Errorf("%w: empty name", ErrInvalidConfig)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.mu.closed {
		return nil, ErrClosed
	}
	if _, ok := st.mu.streams[cfg.Name]; ok {
		return nil, ErrStreamExists
	}
	var be backend
	switch cfg.Storage {
	case MemoryStorage:
		be = newMemBackend()
	case FileStorage:
		if st.db == nil {
			return nil, fmt.Errorf("%w: file storage needs a store directory", ErrInvalidConfig)
		}
		id := st.mu.nextID
		b := st.db.NewBatch()
		defer b.Close()
		_ = b.Set(streamKey(cfg.Name), encodeStreamRecord(streamRecord{ID: id, Config: cfg, Meta: meta}), nil)
		_ = b.Set(keyNextID, binary.BigEndian.AppendUint32(nil, id+1), nil)
		if err := st.commitDurable(b); err != nil {
			return nil, fmt.Errorf("store: creating stream %s: %w", cfg.Name, err)
		}
		st.mu.nextID++
		be = &pebbleBackend{st: st, id: id, name: cfg.Name}
	default:
		return nil, fmt.Errorf("%w: storage type %d", ErrInvalidConfig, cfg.Storage)
	}
	s := newStream(st, cfg, meta, be)
	st.mu.streams[cfg.Name] = s
	return s, nil
}

// Stream returns the named stream or ErrStreamNotFound.
func (st *Store) Stream(name string) (Stream, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if s, ok := st.mu.streams[name]; ok {
		return s, nil
	}
	return nil, ErrStreamNotFound
}

// Streams returns every stream, sorted by name.
func (st *Store) Streams() []Stream {
	st.mu.Lock()
	out := make([]Stream, 0, len(st.mu.streams))
	for _, s := range st.mu.streams {
		out = append(out, s)
	}
	st.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

// DeleteStream removes the stream and all its messages, atomically and
// durably for a file stream. Operations on the deleted Stream value
// return ErrClosed. ErrStreamNotFound if there is no such stream.
func (st *Store) DeleteStream(name string) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.mu.streams[name]
	if !ok {
		return ErrStreamNotFound
	}
	// Close first: an append holding the stream lock finishes before,
	// and none starts after, so the range deletion covers everything.
	s.close()
	if err := s.be.drop(); err != nil {
		return fmt.Errorf("store: deleting stream %s: %w", name, err)
	}
	delete(st.mu.streams, name)
	return nil
}

// Close stops the background work, flushes Pebble's memtable (so that
// the next Open is fast), fsyncs and closes the database.
// Streams return ErrClosed afterwards. Close is idempotent.
func (st *Store) Close() error {
	st.mu.Lock()
	if st.mu.closed {
		st.mu.Unlock()
		return nil
	}
	st.mu.closed = true
	streams := st.mu.streams
	st.mu.Unlock()
	close(st.quit)
	for _, s := range streams {
		s.close()
	}
	if st.syncer != nil {
		close(st.syncer.quit)
		<-st.syncer.done
	}
	st.wg.Wait()
	if st.db == nil {
		return nil
	}
	st.writeHints(streams)
	err := st.syncWAL()
	st.fs.force.Add(1) // Pebble's own syncs on close are real.
	// Flush the memtable so that the next Open has no WAL to replay.
	if ferr := st.db.Flush(); err == nil {
		err = ferr
	}
	if cerr := st.db.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeHints records each file stream's message and subject counts and
// its wide nodes (index_wide.go), so that the next Open can size its
// index up front. A stale or missing
// hint costs only speed.
func (st *Store) writeHints(streams map[string]*stream) {
	b := st.db.NewBatch()
	defer b.Close()
	for _, s := range streams {
		pb, ok := s.be.(*pebbleBackend)
		if !ok {
			continue
		}
		s.mu.RLock()
		v := binary.BigEndian.AppendUint64(nil, s.ix.msgs)
		v = binary.BigEndian.AppendUint64(v, uint64(s.ix.nsubjects))
		v = appendWideHints(v, s.ix.wideHintsOf())
		s.mu.RUnlock()
		_ = b.Set(hintKey(pb.id), v, nil)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		st.log.Warn("store: writing size hints", "err", err)
	}
}

func (s *stream) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.closeSnapshots()
}

// pebbleLogger sends Pebble's log lines to slog.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...), "component", "pebble")
	panic(fmt.Sprintf(format, args...))
}

var _ = time.Second
