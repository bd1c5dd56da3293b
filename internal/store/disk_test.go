package store

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// allocated returns the bytes the file system allocated to the files of
// dir whose names end in suffix, and their lengths.
func allocated(t *testing.T, dir, suffix string) (alloc, length int64) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), suffix) {
			continue
		}
		fi, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		alloc += fi.Sys().(*syscall.Stat_t).Blocks * 512
		length += fi.Size()
	}
	return alloc, length
}

// TestWALNotPreallocated: under the default policy a WAL file takes the
// disk its records need, not the 110% of the memtable size Pebble
// reserves for it (70 MiB for a store holding a few kilobytes).
func TestWALNotPreallocated(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir, Options{SyncInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := st.CreateStream(Config{Name: "KV_disk"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if _, err := s.Append(fmt.Sprintf("k.%d", i), nil, make([]byte, 128), AppendOpts{}); err != nil {
			t.Fatal(err)
		}
	}
	alloc, length := allocated(t, dir, ".log")
	if length == 0 {
		t.Fatal("no WAL file")
	}
	// File systems allocate in blocks, and may allocate a little ahead
	// of a growing file; a reservation would be tens of megabytes.
	if alloc > length+4<<20 {
		t.Fatalf("WAL files allocate %d bytes for %d written", alloc, length)
	}
}

// TestWALNotRecycled: under the default policy obsolete WAL files are
// deleted once their memtable is in a table, not kept for reuse (Pebble
// keeps up to three, each a memtable in size), and nothing is archived.
// The data stays readable across a reopen.
func TestWALNotRecycled(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SyncInterval: time.Hour, MemTableSize: 1 << 20}
	st, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	s, err := st.CreateStream(Config{Name: "KV_disk"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 40000 // about 7 MB: several memtables
	for i := range n {
		if _, err := s.Append(fmt.Sprintf("k.%d", i), nil, make([]byte, 128), AppendOpts{}); err != nil {
			t.Fatal(err)
		}
	}
	// Close flushes the memtable, so every WAL file but the newest is
	// obsolete: none is kept.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, walBytes := allocated(t, dir, ".log"); walBytes > 3<<19 {
		t.Fatalf("WAL files hold %d bytes after close with a 1 MiB memtable", walBytes)
	}
	if _, err := os.Stat(filepath.Join(dir, "archive")); !os.IsNotExist(err) {
		t.Fatalf("archive directory: %v", err)
	}
	st, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err = st.Stream("KV_disk")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.State().Msgs; got != n {
		t.Fatalf("%d messages after reopen, want %d", got, n)
	}
	if _, err := s.Get(1); err != nil {
		t.Fatal(err)
	}
}
