package store

import (
	"testing"
	"time"
)

// Benchmarks of the bounded lookups (stream_lookup.go) on the stream of
// bounds_bench_test.go.

func BenchmarkBoundsSeqForTime(b *testing.B) {
	s := boundsStream(b)
	at := epoch.Add(boundsMsgs / 2 * time.Microsecond).UnixNano()
	for i := 0; i < b.N; i++ {
		if s.SeqForTime(at) == 0 {
			b.Fatal("no sequence")
		}
	}
}

func BenchmarkBoundsLastMatchingNew(b *testing.B) {
	s := boundsStream(b)
	for i := 0; i < b.N; i++ {
		if _, err := s.LastMatching("$KV.b.g7.*"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBoundsDeletedSeqs: one page of 1024, and every page.
func BenchmarkBoundsDeletedSeqs(b *testing.B) {
	s := boundsStream(b)
	b.Run("page", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			s.DeletedSeqs(boundsMsgs/4, 1024)
		}
	})
	b.Run("all", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			n := 0
			for from := uint64(0); ; {
				page, next := s.DeletedSeqs(from, 1024)
				n += len(page)
				if next == 0 {
					break
				}
				from = next
			}
			if n != s.State().NumDeleted {
				b.Fatalf("%d gaps", n)
			}
		}
	})
}
