package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Imports: a file stream created whole from exported messages, with
// their sequences, timestamps, TTLs and message ids, for restores. The
// messages go into a table file beside the database as they arrive, not
// into memory and not into the database; Commit adds that file to the
// database together with the stream's record and tail in one atomic,
// durable ingestion. Until then nothing of the stream exists, and a
// crash or an Abort leaves nothing behind but, after a crash, the
// unfinished file (import-<id>.tmp in the store's directory, which
// Pebble ignores; the next Open, or the next import, deletes it).
//
//	NewImport(cfg)          reserve a stream id, open import-7.tmp
//	Add(seq 2) Add(seq 5)   M 7 2, M 7 5 written to the file; index built
//	Commit(last 6, t)       + S name, T 7 → ingested; the stream appears
//
// The stream's index is built as messages are added (as a load does),
// so Commit does not read them back.

// ErrImportOrder: Import.Add with a sequence not above the previous one.
var ErrImportOrder = errors.New("store: imported messages out of sequence order")

// Import builds one file stream. It is used by one goroutine; Abort may
// not be called concurrently with Add or Commit either.
type Import struct {
	st   *Store
	s    *stream // not registered until Commit
	id   uint32
	path string
	w    *sstable.Writer
	last uint64 // the last sequence added
	now  int64
	buf  []byte
	done bool
	// replace (replica imports) lets Commit replace a stream of the
	// same name; noIDs leaves the duplicate window to the caller.
	replace, noIDs bool
}

// NewImport starts the import of a file stream named cfg.Name, which
// must not exist (ErrStreamExists; checked again by Commit). It needs a
// store directory (ErrInvalidConfig otherwise, and for memory streams).
// The caller must Commit or Abort it.
func (st *Store) NewImport(cfg Config, meta []byte) (*Import, error) {
	if cfg.Name == "" || cfg.Storage != FileStorage {
		return nil, fmt.Errorf("%w: imports create named file streams", ErrInvalidConfig)
	}
	return st.newImport(cfg, meta, false)
}

// newImport starts an import into the table file; with replace, a
// stream named cfg.Name may exist (Commit replaces it).
func (st *Store) newImport(cfg Config, meta []byte, replace bool) (*Import, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	switch {
	case st.mu.closed:
		return nil, ErrClosed
	case st.db == nil:
		return nil, fmt.Errorf("%w: file storage needs a store directory", ErrInvalidConfig)
	case !replace && st.mu.streams[cfg.Name] != nil:
		return nil, ErrStreamExists
	}
	// The id is taken for good, even if the import is aborted: ids are
	// never reused.
	id := st.mu.nextID
	b := st.db.NewBatch()
	defer b.Close()
	_ = b.Set(keyNextID, binary.BigEndian.AppendUint32(nil, id+1), nil)
	if err := st.commitDurable(b); err != nil {
		return nil, fmt.Errorf("store: importing stream %s: %w", cfg.Name, err)
	}
	st.mu.nextID++
	importsRunning.start(st, id)
	st.removeStaleImports()
	path := st.fs.PathJoin(st.dir, importFile(id))
	f, err := st.fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		importsRunning.end(st, id)
		return nil, fmt.Errorf("store: importing stream %s: %w", cfg.Name, err)
	}
	w := sstable.NewWriter(objstorageprovider.NewFileWritable(f), sstable.WriterOptions{TableFormat: st.db.TableFormat()})
	be := &pebbleBackend{st: st, id: id, name: cfg.Name}
	return &Import{
		st: st, s: newStream(st, cfg, meta, be), id: id, path: path, w: w,
		now: st.clock.Now().UnixNano(), replace: replace,
	}, nil
}

// Add appends one message. Sequences must ascend (ErrImportOrder) and
// stay within MaxSeq; the subject must be a valid literal subject
// (ErrInvalidSubject). Limits are not applied: the messages are taken as
// they were stored.
func (im *Import) Add(m ExportedMsg) error {
	switch {
	case im.done:
		return ErrClosed
	case m.Seq <= im.last || m.Seq > MaxSeq:
		return fmt.Errorf("%w: %d after %d", ErrImportOrder, m.Seq, im.last)
	case !validSubject(m.Subject):
		return fmt.Errorf("%w: message %d: %q", ErrInvalidSubject, m.Seq, m.Subject)
	}
	im.buf = appendRecord(im.buf[:0], &m.Msg, m.TTL, m.MsgID)
	if err := im.w.Set(msgKey(im.id, m.Seq), im.buf); err != nil {
		return fmt.Errorf("store: importing stream %s: %w", im.s.name, err)
	}
	r, err := decodeRecord(im.buf)
	if err != nil {
		return fmt.Errorf("store: importing stream %s: message %d: %w", im.s.name, m.Seq, err)
	}
	if im.noIDs {
		im.s.indexRecovered(im.s.recovered(m.Seq, r), r.subject, nil, im.now)
	} else {
		im.s.recoverMsg(m.Seq, r, im.now)
	}
	im.last = m.Seq
	return nil
}

// Commit makes the stream exist, with lastSeq and lastTime as its last
// sequence and time when they are beyond the last message added (a
// stream whose last messages were removed, or moved forward by a
// purge). It fails with ErrStreamExists if the name was taken
// meanwhile, and leaves nothing behind when it fails.
func (im *Import) Commit(lastSeq uint64, lastTime int64) (Stream, error) {
	if im.done {
		return nil, ErrClosed
	}
	s := im.s
	if lastSeq < im.last || lastSeq > MaxSeq {
		im.Abort()
		return nil, fmt.Errorf("%w: last sequence %d below the last message %d", ErrImportOrder, lastSeq, im.last)
	}
	if lastSeq > s.lastSeq {
		s.lastSeq, s.lastTime = lastSeq, max(lastTime, s.ix.lastTime())
	}
	s.finishRecoveryLocked()
	return im.finish()
}

// finish writes the stream's record and tail, closes the table file
// and ingests it; the stream's index and counters are complete.
func (im *Import) finish() (Stream, error) {
	s := im.s
	_ = im.w.Set(streamKey(s.name), encodeStreamRecord(streamRecord{ID: im.id, Config: s.cfg, Meta: s.meta}))
	err := im.w.Set(tailKey(im.id), encodeTail(s.lastSeq, s.lastTime))
	if err == nil {
		err = im.w.Close()
	}
	im.w = nil
	if err != nil {
		im.Abort()
		return nil, fmt.Errorf("store: importing stream %s: %w", s.name, err)
	}
	if err := im.ingest(); err != nil {
		im.Abort()
		return nil, err
	}
	im.done = true
	_ = im.st.fs.Remove(im.path) // ingested as a link or a copy
	importsRunning.end(im.st, im.id)
	// Let the expiry loop look at the new stream's ages and TTLs.
	im.st.hintDeadline(math.MinInt64)
	return s, nil
}

// ingest adds the file to the database and registers the stream, under
// the Store lock so that no stream of the same name is created between.
// Pebble may flush its memtable first (the file's keys overlap keys
// written recently); streams are not created or looked up meanwhile.
func (im *Import) ingest() error {
	st := im.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.mu.closed {
		return ErrClosed
	}
	if old := st.mu.streams[im.s.name]; old != nil {
		if !im.replace {
			return ErrStreamExists
		}
		// The old stream goes first, durably: a crash from here to the
		// ingestion leaves no stream of that name (replica_import.go).
		old.close()
		if err := old.be.drop(); err != nil {
			return fmt.Errorf("store: replacing stream %s: %w", im.s.name, err)
		}
		delete(st.mu.streams, im.s.name)
		if importAfterDrop != nil {
			importAfterDrop()
		}
	}
	if err := st.db.Ingest(context.Background(), []string{im.path}); err != nil {
		return fmt.Errorf("store: importing stream %s: %w", im.s.name, err)
	}
	st.mu.streams[im.s.name] = im.s
	return nil
}

// importAfterDrop, when set (tests), runs once an import replacing a
// stream has dropped the old one and before it ingests the new one.
var importAfterDrop func()

// Abort discards the import; it is idempotent, and does nothing after a
// successful Commit.
func (im *Import) Abort() {
	if im.done {
		return
	}
	im.done = true
	if im.w != nil {
		_ = im.w.Close()
		im.w = nil
	}
	_ = im.st.fs.Remove(im.path)
	importsRunning.end(im.st, im.id)
}

// LastSeq returns the sequence of the last message added (0 if none).
func (im *Import) LastSeq() uint64 { return im.last }

// importFile is the name of the table file of import id.
func importFile(id uint32) string { return "import-" + strconv.FormatUint(uint64(id), 10) + ".tmp" }

// importsRunning lists the imports in progress of each Store, so that
// the table files a crash left behind can be told from theirs.
var importsRunning = importRegistry{ids: map[*Store]map[uint32]bool{}}

type importRegistry struct {
	mu  sync.Mutex
	ids map[*Store]map[uint32]bool
}

func (r *importRegistry) start(st *Store, id uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ids[st] == nil {
		r.ids[st] = map[uint32]bool{}
	}
	r.ids[st][id] = true
}

func (r *importRegistry) end(st *Store, id uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.ids[st], id)
	if len(r.ids[st]) == 0 {
		delete(r.ids, st)
	}
}

// running reports whether import id of st is in progress.
func (r *importRegistry) running(st *Store, id uint32) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ids[st][id]
}

// removeStaleImports deletes the table files of imports that are not in
// progress: left by a crash during an import (they are not part of the
// database, which ignores them). Open and NewImport call it.
func (st *Store) removeStaleImports() {
	names, err := st.fs.List(st.dir)
	if err != nil {
		return
	}
	for _, name := range names {
		rest, ok := strings.CutPrefix(name, "import-")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(rest, ".tmp"), 10, 32)
		if err != nil || !strings.HasSuffix(rest, ".tmp") || importsRunning.running(st, uint32(n)) {
			continue
		}
		_ = st.fs.Remove(st.fs.PathJoin(st.dir, name))
	}
}
