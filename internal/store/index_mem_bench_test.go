package store

import (
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"unsafe"
)

// Memory and speed of the index alone, at the scale of issue 11's
// efficiency harness: 200k KV keys $KV.eff.k.0000000….

const indexBenchKeys = 200_000

// indexBenchSubject appends the subject of key i to buf.
func indexBenchSubject(buf []byte, i int) []byte {
	return fmt.Appendf(buf[:0], "$KV.eff.k.%07d", i)
}

// loadIndex adds one message for each of keys subjects, then, if
// overwrite, a second one for each that replaces the first (a KV put on
// an existing key with history 1: append, then drop the older).
func loadIndex(keys int, overwrite bool) *index {
	ix := newIndex()
	var buf []byte
	seq := uint64(0)
	for i := 0; i < keys; i++ {
		buf = indexBenchSubject(buf, i)
		seq++
		ix.addBytes(buf, entry{seq: seq, size: 150})
	}
	if overwrite {
		for i := 0; i < keys; i++ {
			buf = indexBenchSubject(buf, i)
			seq++
			ix.addBytes(buf, entry{seq: seq, size: 150})
			ix.removeAt(ix.pos(ix.lookupBytes(buf).seqs()[0]))
			ix.maybeCompact()
		}
	}
	return ix
}

// BenchmarkIndexMemory reports the heap in use per key (B/key) after
// loading 200k keys into an empty index, each with one message
// ("load") or after overwriting each once ("overwrite"). Run it with
// -benchtime 1x: the loop only repeats the measurement.
func BenchmarkIndexMemory(b *testing.B) {
	for _, overwrite := range []bool{false, true} {
		name := "load"
		if overwrite {
			name = "overwrite"
		}
		b.Run(name, func(b *testing.B) {
			var perKey float64
			for i := 0; i < b.N; i++ {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				ix := loadIndex(indexBenchKeys, overwrite)
				runtime.GC()
				runtime.ReadMemStats(&after)
				perKey = float64(after.HeapInuse-before.HeapInuse) / indexBenchKeys
				runtime.KeepAlive(ix)
			}
			b.ReportMetric(perKey, "B/key")
		})
	}
}

// BenchmarkIndexLookup: a literal lookup, and a wildcard walk, among
// 200k keys.
func BenchmarkIndexLookup(b *testing.B) {
	ix := loadIndex(indexBenchKeys, false)
	subjects := make([][]byte, 4096)
	for i := range subjects {
		subjects[i] = indexBenchSubject(nil, (i*7919)%indexBenchKeys)
	}
	b.Run("literal", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if ix.lookupBytes(subjects[i%len(subjects)]) == nil {
				b.Fatal("not found")
			}
		}
	})
	b.Run("add", func(b *testing.B) {
		ix := loadIndex(indexBenchKeys, false)
		seq := uint64(indexBenchKeys)
		for i := 0; i < b.N; i++ {
			buf := subjects[i%len(subjects)]
			seq++
			ix.addBytes(buf, entry{seq: seq, size: 150})
			ix.removeAt(ix.pos(ix.lookupBytes(buf).seqs()[0]))
			ix.maybeCompact()
		}
	})
	filters := make([]string, 1024)
	for i := range filters {
		filters[i] = "$KV.eff.*." + strconv.Itoa(10_000_000 + (i*7919)%indexBenchKeys)[1:]
	}
	b.Run("wildcard", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if ix.lastSeqMatching(filters[i%len(filters)]) == 0 {
				b.Fatal("not found")
			}
		}
	})
}

// TestSubjectStateSize keeps a node in the 48-byte size class.
func TestSubjectStateSize(t *testing.T) {
	if n := unsafe.Sizeof(subjectState{}); n > 48 {
		t.Fatalf("subjectState is %d bytes, want 48 at most", n)
	}
}
