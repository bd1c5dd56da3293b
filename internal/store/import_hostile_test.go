package store

import (
	"os"
	"path/filepath"
	"testing"
)

// TestImportLeftoverRemovedByOpen: the table file of an import cut short
// by a crash (kill -9 during a restore) can be as large as the stream
// being restored. Open deletes it: a store that is never asked for
// another import must not keep it on disk for good.
func TestImportLeftoverRemovedByOpen(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	im, err := st.NewImport(Config{Name: "x", Storage: FileStorage}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 100; seq++ {
		if err := im.Add(ExportedMsg{Msg: Msg{Subject: "a", Seq: seq, Data: make([]byte, 1000)}}); err != nil {
			t.Fatal(err)
		}
	}
	// The crash: the store goes away with the import unfinished.
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
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Fatalf("Open kept the leftover import file %s: %v", leftover, err)
	}
	if len(st.Streams()) != 0 {
		t.Fatal("the unfinished import created a stream")
	}
}
