package store

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// fileStoreWith creates a store in a new directory with one stream of
// n messages, closes it and returns the directory.
func fileStoreWith(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := st.CreateStream(Config{Name: "KV_c"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		mustAppend(t, s, "$KV.c.k", strings.Repeat("v", 100), AppendOpts{})
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// rawDB opens the store's Pebble database directly, to damage it.
func rawDB(t *testing.T, dir string) *pebble.DB {
	t.Helper()
	quiet := pebbleLogger{slog.New(slog.NewTextHandler(io.Discard, nil))}
	db, err := pebble.Open(dir, &pebble.Options{FormatMajorVersion: pebble.FormatNewest, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func wantCorrupt(t *testing.T, dir, stream, problem string) {
	t.Helper()
	st, err := Open(dir, Options{})
	if err == nil {
		st.Close()
		t.Fatal("Open succeeded on corrupt data")
	}
	var ce *CorruptError
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a CorruptError", err)
	}
	if ce.Stream != stream || !strings.Contains(err.Error(), problem) {
		t.Fatalf("err = %v (stream %q), want stream %q and %q", err, ce.Stream, stream, problem)
	}
}

func TestCorruptRecord(t *testing.T) {
	dir := fileStoreWith(t, 3)
	db := rawDB(t, dir)
	db.Set(msgKey(1, 2), []byte{recordVersion, 1, 2}, pebble.Sync)
	db.Close()
	wantCorrupt(t, dir, "KV_c", "message 2")
}

func TestCorruptStreamRecord(t *testing.T) {
	dir := fileStoreWith(t, 1)
	db := rawDB(t, dir)
	db.Set(streamKey("KV_c"), []byte("{not json"), pebble.Sync)
	db.Close()
	wantCorrupt(t, dir, "KV_c", "unreadable stream record")
}

func TestOrphanMessages(t *testing.T) {
	dir := fileStoreWith(t, 1)
	db := rawDB(t, dir)
	db.Delete(streamKey("KV_c"), pebble.Sync)
	db.Close()
	wantCorrupt(t, dir, "", "unknown stream id 1")
}

func TestForeignDatabase(t *testing.T) {
	dir := t.TempDir()
	db := rawDB(t, dir)
	db.Set([]byte("hello"), []byte("world"), pebble.Sync)
	db.Close()
	wantCorrupt(t, dir, "", "no format marker")
}

// TestDamagedTable flips bytes in the middle of every table file: the
// block checksums catch it while the index is rebuilt.
func TestDamagedTable(t *testing.T) {
	dir := fileStoreWith(t, 2000)
	db := rawDB(t, dir)
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	db.Close()
	tables, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	if len(tables) == 0 {
		t.Fatal("no table files")
	}
	for _, path := range tables {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i := len(b) / 4; i < len(b)/4+64; i++ {
			b[i] ^= 0xff
		}
		os.WriteFile(path, b, 0o644)
	}
	wantCorrupt(t, dir, "", "reading")
}

// TestTruncatedManifest cuts the MANIFEST short: Open refuses with an
// error naming the directory.
func TestTruncatedManifest(t *testing.T) {
	dir := fileStoreWith(t, 10)
	manifests, _ := filepath.Glob(filepath.Join(dir, "MANIFEST-*"))
	for _, path := range manifests {
		fi, _ := os.Stat(path)
		os.Truncate(path, min(fi.Size()/2, 20))
	}
	st, err := Open(dir, Options{})
	if err == nil {
		st.Close()
		t.Fatal("Open succeeded on a truncated manifest")
	}
	if !strings.Contains(err.Error(), dir) {
		t.Fatalf("error does not name the directory: %v", err)
	}
	t.Logf("error: %v", err)
}
