package store

import (
	"errors"
	"fmt"
	"io"

	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// exportAll reads an export to its end.
func exportAll(t *testing.T, ex *Export) []ExportedMsg {
	t.Helper()
	var out []ExportedMsg
	for i := 0; ; i++ {
		if i > 1_000_000 {
			t.Fatal("export does not end")
		}
		m, err := ex.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		out = append(out, m)
	}
}

// importAll imports msgs as a stream named name with cfg.
func importAll(t *testing.T, st *Store, cfg Config, meta []byte, msgs []ExportedMsg, state State) Stream {
	t.Helper()
	im, err := st.NewImport(cfg, meta)
	if err != nil {
		t.Fatalf("NewImport: %v", err)
	}
	for _, m := range msgs {
		if err := im.Add(m); err != nil {
			t.Fatalf("Add %d: %v", m.Seq, err)
		}
	}
	s, err := im.Commit(state.LastSeq, state.LastTime)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return s
}

func TestExportImportRoundTrip(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { st.Close() }()
	cfg := Config{Name: "KV_a", Subjects: []string{"$KV.a.>"}, MaxMsgsPerSubject: 3, AllowMsgTTL: true, DuplicateWindow: time.Minute}
	s, err := st.CreateStream(cfg, []byte(`{"meta":1}`))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		mustAppend(t, s, fmt.Sprintf("$KV.a.k%d", i%7), fmt.Sprintf("v%d", i), AppendOpts{MsgID: fmt.Sprintf("id%d", i)})
	}
	mustAppend(t, s, "$KV.a.ttl", "x", AppendOpts{TTL: time.Hour})
	mustAppend(t, s, "$KV.a.never", "y", AppendOpts{TTL: -1})
	if err := s.Delete(3); err != nil && !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	mustAppend(t, s, "$KV.a.last", "z", AppendOpts{})
	last := s.State().LastSeq
	if err := s.Delete(last); err != nil { // the tail is beyond the last message
		t.Fatal(err)
	}
	want := s.State()

	ex, err := st.Export("KV_a")
	if err != nil {
		t.Fatal(err)
	}
	// Writes after the export are not in it.
	for i := range 10 {
		mustAppend(t, s, fmt.Sprintf("$KV.a.k%d", i), "later", AppendOpts{})
	}
	if _, err := s.Purge(PurgeOpts{Subject: "$KV.a.k1"}); err != nil {
		t.Fatal(err)
	}
	if got := ex.State(); got != want {
		t.Fatalf("export state %+v, want %+v", got, want)
	}
	msgs := exportAll(t, ex)
	ex.Close()
	if uint64(len(msgs)) != want.Msgs {
		t.Fatalf("exported %d messages, state says %d", len(msgs), want.Msgs)
	}
	var sawTTL, sawNever, sawID bool
	for _, m := range msgs {
		if string(m.Data) == "later" {
			t.Fatalf("message %d written after the export is in it", m.Seq)
		}
		sawTTL = sawTTL || m.TTL == time.Hour
		sawNever = sawNever || m.TTL < 0
		sawID = sawID || m.MsgID != ""
	}
	if !sawTTL || !sawNever || !sawID {
		t.Fatalf("TTL %v, never %v, msg id %v not all exported", sawTTL, sawNever, sawID)
	}

	cfg2 := cfg
	cfg2.Name = "KV_b"
	r := importAll(t, st, cfg2, []byte(`{"meta":2}`), msgs, want)
	got := r.State()
	if got != want {
		t.Fatalf("imported state %+v, want %+v", got, want)
	}
	// The restored stream continues the sequence and de-duplicates ids.
	res, err := r.Append("$KV.a.k0", nil, []byte("again"), AppendOpts{MsgID: "id39"})
	if err != nil || !res.Duplicate {
		t.Fatalf("append of a remembered msg id: %+v %v", res, err)
	}
	res = mustAppend(t, r, "$KV.a.new", "next", AppendOpts{})
	if res.Seq != want.LastSeq+1 {
		t.Fatalf("next sequence %d, want %d", res.Seq, want.LastSeq+1)
	}

	// It survives a restart, with the same messages.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = Open(dir, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	r, err = st.Stream("KV_b")
	if err != nil {
		t.Fatal(err)
	}
	ex, err = st.Export("KV_b")
	if err != nil {
		t.Fatal(err)
	}
	again := exportAll(t, ex)
	ex.Close()
	if len(again) != len(msgs)+1 || !reflect.DeepEqual(again[:len(msgs)], msgs) {
		t.Fatalf("after restart: %d messages, want %d + 1 identical", len(again), len(msgs))
	}
	if string(r.Meta()) != `{"meta":2}` {
		t.Fatalf("meta %s", r.Meta())
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, "import-*.tmp")); len(leftovers) > 0 {
		t.Fatalf("import files left: %v", leftovers)
	}
}

func TestImportAbortAndConflicts(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { st.Close() }()
	if _, err := st.CreateStream(Config{Name: "taken"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.NewImport(Config{Name: "taken"}, nil); !errors.Is(err, ErrStreamExists) {
		t.Fatalf("import over an existing stream: %v", err)
	}
	if _, err := st.NewImport(Config{Name: "m", Storage: MemoryStorage}, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("memory import: %v", err)
	}
	im, err := st.NewImport(Config{Name: "x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Add(ExportedMsg{Msg: Msg{Subject: "a", Seq: 5, Data: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	if err := im.Add(ExportedMsg{Msg: Msg{Subject: "a", Seq: 5}}); !errors.Is(err, ErrImportOrder) {
		t.Fatalf("repeated sequence: %v", err)
	}
	if err := im.Add(ExportedMsg{Msg: Msg{Subject: "a.*", Seq: 6}}); !errors.Is(err, ErrInvalidSubject) {
		t.Fatalf("wildcard subject: %v", err)
	}
	// A stream of the same name created meanwhile wins.
	if _, err := st.CreateStream(Config{Name: "x"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := im.Commit(5, 0); !errors.Is(err, ErrStreamExists) {
		t.Fatalf("commit over a stream created meanwhile: %v", err)
	}
	im2, err := st.NewImport(Config{Name: "y"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := im2.Add(ExportedMsg{Msg: Msg{Subject: "a", Seq: 1}}); err != nil {
		t.Fatal(err)
	}
	im2.Abort()
	if _, err := st.Stream("y"); !errors.Is(err, ErrStreamNotFound) {
		t.Fatalf("aborted import left a stream: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, "import-*.tmp")); len(leftovers) > 0 {
		t.Fatalf("import files left: %v", leftovers)
	}
	st, err = Open(dir, Options{})
	if err != nil {
		t.Fatalf("reopen after aborted imports: %v", err)
	}
	if names := len(st.Streams()); names != 2 {
		t.Fatalf("%d streams after reopen, want 2", names)
	}
}

func TestExportClosedByDelete(t *testing.T) {
	st, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := st.CreateStream(Config{Name: "s"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, "a", "1", AppendOpts{})
	ex, err := st.Export("s")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteStream("s"); err != nil {
		t.Fatal(err)
	}
	if _, err := ex.Next(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after the stream was deleted: %v", err)
	}
	ex.Close()
	if _, err := st.CreateStream(Config{Name: "mem", Storage: MemoryStorage}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Export("mem"); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("memory export: %v", err)
	}
	if _, err := st.Export("none"); !errors.Is(err, ErrStreamNotFound) {
		t.Fatalf("export of a missing stream: %v", err)
	}
}

// TestImportLeftoverAfterCrash: a table file left by an import that
// never finished does not stop the store from opening, and the next
// import deletes it.
func TestImportLeftoverAfterCrash(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	im, err := st.NewImport(Config{Name: "x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Add(ExportedMsg{Msg: Msg{Subject: "a", Seq: 1, Data: []byte("v")}}); err != nil {
		t.Fatal(err)
	}
	// A crash: the store closes with the import unfinished.
	defer importsRunning.end(st, im.id)
	leftover := filepath.Join(dir, importFile(im.id))
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := im.w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(leftover); err != nil {
		t.Fatalf("no leftover to test with: %v", err)
	}
	st, err = Open(dir, Options{})
	if err != nil {
		t.Fatalf("open with a leftover import file: %v", err)
	}
	defer st.Close()
	if len(st.Streams()) != 0 {
		t.Fatal("the unfinished import created a stream")
	}
	im2, err := st.NewImport(Config{Name: "y"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer im2.Abort()
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Fatalf("leftover still there: %v", err)
	}
	if !importsRunning.running(st, im2.id) {
		t.Fatal("the running import is not registered")
	}
}
