package store

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"math"
	randv2 "math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// gateFS holds the WAL's fsyncs while its gate is shut, so that a test
// can look at the store between a commit and its fsync.
type gateFS struct {
	vfs.FS
	mu   sync.Mutex
	shut chan struct{} // nil: open
}

func (g *gateFS) Create(name string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := g.FS.Create(name, cat)
	return g.wrap(f, err, cat)
}

func (g *gateFS) ReuseForWrite(oldname, newname string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := g.FS.ReuseForWrite(oldname, newname, cat)
	return g.wrap(f, err, cat)
}

func (g *gateFS) wrap(f vfs.File, err error, cat vfs.DiskWriteCategory) (vfs.File, error) {
	if err != nil || cat != walCategory {
		return f, err
	}
	return &gateFile{File: f, g: g}, nil
}

func (g *gateFS) close() {
	g.mu.Lock()
	if g.shut == nil {
		g.shut = make(chan struct{})
	}
	g.mu.Unlock()
}

func (g *gateFS) open() {
	g.mu.Lock()
	if g.shut != nil {
		close(g.shut)
		g.shut = nil
	}
	g.mu.Unlock()
}

func (g *gateFS) pass() {
	g.mu.Lock()
	ch := g.shut
	g.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

type gateFile struct {
	vfs.File
	g *gateFS
}

func (f *gateFile) Sync() error     { f.g.pass(); return f.File.Sync() }
func (f *gateFile) SyncData() error { f.g.pass(); return f.File.SyncData() }
func (f *gateFile) SyncTo(n int64) (bool, error) {
	f.g.pass()
	return f.File.SyncTo(n)
}

// TestSyncAlwaysReadersWaitForFsync: under SyncAlways no read observes
// a write (append or delete) whose fsync has not completed: reads that
// would see it wait for the group fsync.
func TestSyncAlwaysReadersWaitForFsync(t *testing.T) {
	gate := &gateFS{FS: vfs.NewMem()}
	st, err := Open("/db", Options{SyncAlways: true, fs: gate})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	defer gate.open()
	s, err := st.CreateStream(Config{Name: "KV_g", DuplicateWindow: time.Minute}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, "a.1", "one", AppendOpts{})
	mustAppend(t, s, "a.1", "two", AppendOpts{})

	lastSeq := func() uint64 {
		x := s.(*stream)
		x.mu.RLock()
		defer x.mu.RUnlock()
		return x.lastSeq
	}
	// Phase 1: an append held before its fsync.
	gate.close()
	appended := make(chan error, 1)
	go func() {
		_, err := s.Append("a.3", nil, []byte("three"), AppendOpts{})
		appended <- err
	}()
	waitFor(t, "the append to reach the index", func() bool { return lastSeq() == 3 })
	seesThree := map[string]func() bool{
		"Get": func() bool { _, err := s.Get(3); return err == nil },
		"GetLast": func() bool {
			_, err := s.GetLast("a.3")
			return err == nil
		},
		"GetNext(>)": func() bool {
			m, err := s.GetNext(">", 3)
			return err == nil && m.Seq == 3
		},
		"GetNext(a.3)": func() bool {
			m, err := s.GetNext("a.3", 1)
			return err == nil && m.Seq == 3
		},
		"State":      func() bool { return s.State().LastSeq == 3 },
		"NumPending": func() bool { return s.NumPending(">", 1, true) == 2 },
		"SubjectsState": func() bool {
			_, ok := s.SubjectsState(">")["a.3"]
			return ok
		},
		"LastMatching": func() bool {
			m, err := s.LastMatching("a.*")
			return err == nil && m.Seq == 3
		},
		"SeqForTime": func() bool { return s.SeqForTime(math.MaxInt64) == 4 },
		"SnapshotLastPerSubject": func() bool {
			sn, err := s.(Snapshotter).SnapshotLastPerSubject(nil)
			if err != nil {
				return false
			}
			defer sn.Close()
			return sn.LastSeq() == 3
		},
		"LastPerSubject": func() bool {
			var seqs []uint64
			s.LastPerSubject(">", func(m *Msg) bool { seqs = append(seqs, m.Seq); return true })
			return slices.Contains(seqs, 3)
		},
	}
	checkHeld(t, gate, "append", seesThree, appended)

	// Phase 2: a delete held before its fsync.
	gate.close()
	deleted := make(chan error, 1)
	go func() { deleted <- s.Delete(2) }()
	waitFor(t, "the delete to reach the index", func() bool {
		x := s.(*stream)
		x.mu.RLock()
		defer x.mu.RUnlock()
		return x.ix.pos(2) < 0
	})
	seesDelete := map[string]func() bool{
		"Get": func() bool { _, err := s.Get(2); return errors.Is(err, ErrNotFound) },
		"GetLast": func() bool {
			m, err := s.GetLast("a.1")
			return err == nil && m.Seq == 1
		},
		"State": func() bool { return s.State().Msgs == 2 },
		"DeletedSeqs": func() bool {
			seqs, _ := s.DeletedSeqs(0, 10)
			return slices.Contains(seqs, 2)
		},
	}
	checkHeld(t, gate, "delete", seesDelete, deleted)

	// Phase 3: refused and duplicate appends tell what they saw (the
	// original's sequence, the actual last sequence): not before the
	// write they saw is durable.
	gate.close()
	first := make(chan error, 1)
	go func() {
		_, err := s.Append("a.4", nil, []byte("four"), AppendOpts{MsgID: "m4"})
		first <- err
	}()
	waitFor(t, "the append to reach the index", func() bool { return lastSeq() == 4 })
	seesFour := map[string]func() bool{
		"duplicate": func() bool {
			r, err := s.Append("a.4", nil, []byte("four"), AppendOpts{MsgID: "m4"})
			return err == nil && r.Duplicate && r.Seq == 4
		},
		// Writing nothing, these still report on the stream: they may
		// not return before the write in flight is durable.
		"purge finding nothing": func() bool {
			n, err := s.Purge(PurgeOpts{Subject: "a.4", Seq: 1})
			return err == nil && n == 0
		},
		"delete not found": func() bool { return errors.Is(s.Delete(999), ErrNotFound) },
		"wrong last sequence": func() bool {
			_, err := s.Append("a.5", nil, nil, AppendOpts{HasExpectedLastSeq: true, ExpectedLastSeq: 1})
			var wrong *WrongSequenceError
			return errors.As(err, &wrong) && wrong.Last == 4
		},
	}
	checkHeld(t, gate, "append", seesFour, first)
}

// checkHeld runs every read while the gate holds a write's fsync: none
// may report the write before the gate opens; all must once it has.
func checkHeld(t *testing.T, gate *gateFS, what string, reads map[string]func() bool, writeDone chan error) {
	t.Helper()
	type result struct {
		name string
		seen bool
	}
	results := make(chan result, len(reads))
	for name, read := range reads {
		go func() { results <- result{name, read()} }()
	}
	// Readers are given time to go wrong: the property under test is
	// that they cannot return what is not durable, however long they
	// are left running.
	timeout := time.After(100 * time.Millisecond)
	got := 0
wait:
	for {
		select {
		case r := <-results:
			got++
			if r.seen {
				t.Errorf("%s: %s saw the %s before its fsync", what, r.name, what)
			}
		case <-timeout:
			break wait
		}
	}
	select {
	case err := <-writeDone:
		t.Fatalf("%s returned before its fsync: %v", what, err)
	default:
	}
	gate.open()
	if err := <-writeDone; err != nil {
		t.Fatal(err)
	}
	for ; got < len(reads); got++ {
		if r := <-results; !r.seen {
			t.Errorf("%s: %s did not see the %s after its fsync", what, r.name, what)
		}
	}
}

// TestDefaultPolicyAckedInOS: under the default policy an append that
// returned has its WAL record in the operating system, so a process
// crash right after (every written byte kept, nothing more) loses
// nothing acknowledged.
func TestDefaultPolicyAckedInOS(t *testing.T) {
	fs := vfs.NewCrashableMem()
	opts := Options{fs: fs, SyncInterval: time.Hour}
	st, err := Open("/db", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := st.CreateStream(Config{Name: "KV_os"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rng := randv2.New(randv2.NewPCG(1, 2))
	for i := 0; i < 20; i++ {
		r, err := s.Append(fmt.Sprintf("k.%d", i), nil, []byte(fmt.Sprint(i)), AppendOpts{})
		if err != nil {
			t.Fatal(err)
		}
		// A process crash: the OS keeps everything written to it.
		clone := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 100, RNG: rng})
		st2, err := Open("/db", Options{fs: clone, SyncInterval: time.Hour, manualExpiry: true})
		if err != nil {
			t.Fatal(err)
		}
		s2, err := st2.Stream("KV_os")
		if err != nil {
			st2.Close()
			t.Fatal(err)
		}
		m, err := s2.Get(r.Seq)
		st2.Close()
		if err != nil || string(m.Data) != fmt.Sprint(i) {
			t.Fatalf("append %d (seq %d) acknowledged but not in the OS: %v", i, r.Seq, err)
		}
	}
}

// TestConcurrentWritersShareFlushes: the default policy's flush before
// the acknowledgement is a group flush, shared by concurrent writers.
func TestConcurrentWritersShareFlushes(t *testing.T) {
	st, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := st.CreateStream(Config{Name: "KV_share"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	const writers, each = 8, 200
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := s.Append(fmt.Sprintf("w.%d", w), nil, []byte("x"), AppendOpts{}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := s.State().Msgs; n != writers*each {
		t.Fatalf("%d messages, want %d", n, writers*each)
	}
	// Under the default policy every WAL sync request reaches the
	// wrapped file once: one per flush.
	if flushes := st.fs.syncs.Load(); flushes >= writers*each {
		t.Fatalf("%d flushes for %d appends: writers do not share them", flushes, writers*each)
	} else {
		t.Logf("%d flushes for %d appends", flushes, writers*each)
	}
}

// TestEveryReadSettles guards the read rule for read paths added later:
// every exported method of stream that takes the read lock must wait for
// the durable watermark (runlockSettled, or durableTicketLocked for
// snapshots), except those that return only the configuration.
func TestEveryReadSettles(t *testing.T) {
	exempt := map[string]bool{"Config": true, "Meta": true}
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || fn.Body == nil || !fn.Name.IsExported() || exempt[fn.Name.Name] {
				continue
			}
			star, ok := fn.Recv.List[0].Type.(*ast.StarExpr)
			if !ok {
				continue
			}
			if id, ok := star.X.(*ast.Ident); !ok || id.Name != "stream" {
				continue
			}
			var rlock, settles bool
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok {
					switch sel.Sel.Name {
					case "RLock":
						rlock = true
					case "runlockSettled", "durableTicketLocked":
						settles = true
					}
				}
				return true
			})
			if rlock {
				checked++
				if !settles {
					t.Errorf("%s: (*stream).%s reads under the lock without waiting for the durable watermark (runlockSettled)",
						fset.Position(fn.Pos()), fn.Name.Name)
				}
			}
		}
	}
	if checked < 10 {
		t.Fatalf("only %d read methods found: is the test looking at the right files?", checked)
	}
}
