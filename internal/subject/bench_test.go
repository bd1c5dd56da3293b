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
	// Distinct subjects, more than the cache holds, defeat the cache.
	subjects := make([]string, 4*cacheLimit)
	for i := range subjects {
		subjects[i] = fmt.Sprintf("$KV.bucket%d.key%d", i%10, i)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		idx.Match(subjects[i%len(subjects)])
	}
}

// BenchmarkInsert100k inserts new subscriptions into an index that
// already holds 100k.
func BenchmarkInsert100k(b *testing.B) {
	idx, _ := fill(100_000)
	subjects := make([]string, b.N)
	for i := range subjects {
		subjects[i] = fmt.Sprintf("$KV.extra.k%d", i)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = idx.Insert(subjects[i], "", -i-1)
	}
}

// BenchmarkRemove100k removes subscriptions from an index of 100k plus
// the ones being removed.
func BenchmarkRemove100k(b *testing.B) {
	idx, _ := fill(100_000)
	subjects := make([]string, b.N)
	for i := range subjects {
		subjects[i] = fmt.Sprintf("$KV.extra.k%d", i)
		_ = idx.Insert(subjects[i], "", -i-1)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		idx.Remove(subjects[i], "", -i-1)
	}
}
