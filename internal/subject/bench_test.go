package subject

import (
	"fmt"
	"testing"
)

// fill inserts n subscriptions shaped like KV and inbox interest:
// "$KV.bucket<i%10>.key<i>" plus a wildcard every 100th.
func fill(n int) (*Index[int], []string) {
	idx := NewIndex[int]()
	subjects := make([]string, n)
	for i := 0; i < n; i++ {
		s := fmt.Sprintf("$KV.bucket%d.key%d", i%10, i)
		if i%100 == 0 {
			s = fmt.Sprintf("_INBOX.%d.*", i)
		}
		subjects[i] = s
		_ = idx.Insert(s, "", i)
	}
	return idx, subjects
}

func BenchmarkMatch100k(b *testing.B) {
	idx, _ := fill(100_000)
	subjects := make([]string, 1000)
	for i := range subjects {
		subjects[i] = fmt.Sprintf("$KV.bucket%d.key%d", i%10, i*97)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		idx.Match(subjects[i%len(subjects)])
	}
}

func BenchmarkMatch100kUncached(b *testing.B) {
	idx, _ := fill(100_000)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		// Distinct subjects defeat the cache.
		idx.Match(fmt.Sprintf("$KV.bucket%d.key%d", i%10, i))
	}
}

func BenchmarkInsertRemove100k(b *testing.B) {
	idx, _ := fill(100_000)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s := fmt.Sprintf("x.%d.y", i)
		_ = idx.Insert(s, "", -i)
		idx.Remove(s, "", -i)
	}
}

func BenchmarkInsert100k(b *testing.B) {
	for b.Loop() {
		fill(100_000)
	}
}
