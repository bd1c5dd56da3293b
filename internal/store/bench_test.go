package store

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// Benchmarks of docs/PERFORMANCE.md ("Storage engine"). The 1M-subject
// data set is built once per process (about ten seconds) and shared.

func benchSubject(i int) string { return fmt.Sprintf("$KV.bench.key%07d", i) }

func benchValue(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + rng.IntN(26))
	}
	return b
}

// BenchmarkAppend: KV puts (history 1) over 100k keys from 1 or 8
// goroutines, 128 B or 4 KiB values, default or always sync policy.
func BenchmarkAppend(b *testing.B) {
	for _, policy := range []string{"interval", "always"} {
		for _, writers := range []int{1, 8} {
			for _, size := range []int{128, 4096} {
				name := fmt.Sprintf("sync=%s/writers=%d/size=%d", policy, writers, size)
				b.Run(name, func(b *testing.B) { benchAppend(b, policy == "always", writers, size) })
			}
		}
	}
}

func benchAppend(b *testing.B, always bool, writers, size int) {
	st, err := Open(b.TempDir(), Options{SyncAlways: always})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	s, err := st.CreateStream(Config{Name: "KV_bench", MaxMsgsPerSubject: 1}, nil)
	if err != nil {
		b.Fatal(err)
	}
	value := benchValue(rand.New(rand.NewPCG(1, 2)), size)
	subjects := make([]string, 100000)
	for i := range subjects {
		subjects[i] = benchSubject(i)
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	var wg sync.WaitGroup
	per := b.N / writers
	for w := 0; w < writers; w++ {
		n := per
		if w == 0 {
			n += b.N % writers
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				if _, err := s.Append(subjects[(i*writers+w)%len(subjects)], nil, value, AppendOpts{}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

const benchSubjects = 1_000_000

var bench1M struct {
	once sync.Once
	dir  string
	raw  int64 // payload + subject bytes
	err  error
}

// benchDataset builds (once) a store with one stream of 1M subjects,
// one 128-byte value each, and returns its directory (the store is
// closed).
func benchDataset(b *testing.B) string {
	bench1M.once.Do(func() {
		dir, err := os.MkdirTemp("", "cairn-store-bench-")
		if err != nil {
			bench1M.err = err
			return
		}
		bench1M.dir = dir
		st, err := Open(dir, Options{})
		if err != nil {
			bench1M.err = err
			return
		}
		s, _ := st.CreateStream(Config{Name: "KV_bench", MaxMsgsPerSubject: 1}, nil)
		var wg sync.WaitGroup
		var mu sync.Mutex
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(w), 9))
				var raw int64
				for i := w; i < benchSubjects; i += 8 {
					subject, value := benchSubject(i), benchValue(rng, 128)
					raw += int64(len(subject) + len(value))
					if _, err := s.Append(subject, nil, value, AppendOpts{}); err != nil {
						bench1M.err = err
						return
					}
				}
				mu.Lock()
				bench1M.raw += raw
				mu.Unlock()
			}()
		}
		wg.Wait()
		if err := st.Close(); err != nil && bench1M.err == nil {
			bench1M.err = err
		}
	})
	if bench1M.err != nil {
		b.Fatal(bench1M.err)
	}
	return bench1M.dir
}

// benchCache overrides Options.CacheSize in the 1M benchmarks.
var benchCache = flag.Int64("store.cache", 0, "Pebble block cache size for the 1M benchmarks (0: default)")

func openBench(b *testing.B) (*Store, Stream) {
	st, err := Open(benchDataset(b), Options{CacheSize: *benchCache})
	if err != nil {
		b.Fatal(err)
	}
	s, err := st.Stream("KV_bench")
	if err != nil {
		b.Fatal(err)
	}
	return st, s
}

// BenchmarkGetLast1M: GetLast of random subjects among 1M; reports the
// median latency besides the mean.
func BenchmarkGetLast1M(b *testing.B) {
	st, s := openBench(b)
	defer st.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	subjects := make([]string, 4096)
	for i := range subjects {
		subjects[i] = benchSubject(rng.IntN(benchSubjects))
	}
	samples := make([]time.Duration, 0, min(b.N, 1<<20))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := s.GetLast(subjects[i%len(subjects)]); err != nil {
			b.Fatal(err)
		}
		if len(samples) < cap(samples) {
			samples = append(samples, time.Since(t0))
		}
	}
	b.StopTimer()
	slices.Sort(samples)
	b.ReportMetric(float64(samples[len(samples)/2].Nanoseconds()), "ns/median")
	b.ReportMetric(float64(samples[len(samples)*99/100].Nanoseconds()), "ns/p99")
}

// BenchmarkLastPerSubject1M iterates the last message of all 1M
// subjects (what a KV watch or key listing starts with).
func BenchmarkLastPerSubject1M(b *testing.B) {
	st, s := openBench(b)
	defer st.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := 0
		if err := s.LastPerSubject("$KV.bench.>", func(*Msg) bool { n++; return true }); err != nil {
			b.Fatal(err)
		}
		if n != benchSubjects {
			b.Fatalf("saw %d subjects", n)
		}
	}
	b.ReportMetric(float64(b.N*benchSubjects)/b.Elapsed().Seconds(), "subjects/s")
}

// BenchmarkReopen1M measures Open of a store holding 1M messages
// (index rebuild included) and reports the on-disk size per entry.
func BenchmarkReopen1M(b *testing.B) {
	dir := benchDataset(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st, err := Open(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N), "ms/open")
	// Heap held by an open store with 1M messages and subjects (the
	// index, plus Pebble's memtable and what its cache holds on heap).
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	st, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "heap-MiB")
	st.Close()
}

// BenchmarkDiskSize1M reports the bytes on disk per entry of the 1M data
// set once its memtable is flushed, against the raw payload+subject.
func BenchmarkDiskSize1M(b *testing.B) {
	dir := benchDataset(b)
	st, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := st.db.Flush(); err != nil {
		b.Fatal(err)
	}
	st.Close()
	var total int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			total += fi.Size()
		}
		return nil
	})
	for i := 0; i < b.N; i++ {
	}
	b.ReportMetric(float64(total)/benchSubjects, "disk-B/entry")
	b.ReportMetric(float64(bench1M.raw)/benchSubjects, "raw-B/entry")
	b.ReportMetric(float64(total)/float64(bench1M.raw), "disk/raw")
}
