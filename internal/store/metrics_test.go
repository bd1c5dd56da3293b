package store

import (
	"testing"
)

// TestMetrics: the engine's counters move with writes, the WAL sync
// histogram is cumulative over ascending bounds, and a closed or
// directory-less store reports none.
func TestMetrics(t *testing.T) {
	st, err := Open(t.TempDir(), Options{SyncAlways: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	before, ok := st.Metrics()
	if !ok {
		t.Fatal("open store reports no metrics")
	}
	s, err := st.CreateStream(Config{Name: "m", Subjects: []string{"m.>"}, Storage: FileStorage}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if _, err := s.Append("m.a", nil, make([]byte, 100), AppendOpts{}); err != nil {
			t.Fatal(err)
		}
	}
	after, _ := st.Metrics()
	if after.WALBytesIn < before.WALBytesIn+1000 || after.WALBytesWritten <= before.WALBytesWritten {
		t.Fatalf("WAL bytes %d -> %d in, %d -> %d written", before.WALBytesIn, after.WALBytesIn, before.WALBytesWritten, after.WALBytesWritten)
	}
	h := after.WALSync
	if h.Count < before.WALSync.Count+10 || len(h.Bounds) == 0 || len(h.Bounds) != len(h.Counts) {
		t.Fatalf("WAL syncs %d -> %d, %d bounds, %d counts", before.WALSync.Count, h.Count, len(h.Bounds), len(h.Counts))
	}
	for i := 1; i < len(h.Bounds); i++ {
		if h.Bounds[i] <= h.Bounds[i-1] || h.Counts[i] < h.Counts[i-1] {
			t.Fatalf("bucket %d: bound %g after %g, count %d after %d", i, h.Bounds[i], h.Bounds[i-1], h.Counts[i], h.Counts[i-1])
		}
	}
	if last := h.Counts[len(h.Counts)-1]; last > h.Count || h.Bounds[len(h.Bounds)-1] > 10 || h.Bounds[0] < 0.0001*0.999 {
		t.Fatalf("last bucket %d of %d, bounds %g..%g", last, h.Count, h.Bounds[0], h.Bounds[len(h.Bounds)-1])
	}
	if after.DiskUsage == 0 || after.MemTableSize == 0 || after.MemTables == 0 {
		t.Fatalf("disk %d, memtable %d bytes in %d", after.DiskUsage, after.MemTableSize, after.MemTables)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Metrics(); ok {
		t.Fatal("closed store reports metrics")
	}

	mem, err := Open("", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	if _, ok := mem.Metrics(); ok {
		t.Fatal("memory-only store reports engine metrics")
	}
}
