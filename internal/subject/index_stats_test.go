package subject

import "testing"

// TestIndexStats: inserts, removes, matches, cache hits and the fanout
// of the cached results are counted as nats-server's sublist counts
// them (a queue group is one target).
func TestIndexStats(t *testing.T) {
	idx := NewIndex[int]()
	for i, s := range []struct{ subj, queue string }{
		{"a.b", ""}, {"a.*", ""}, {"a.b", "q"}, {"a.b", "q"}, {"c", ""},
	} {
		if err := idx.Insert(s.subj, s.queue, i); err != nil {
			t.Fatal(err)
		}
	}
	if idx.Insert("a..b", "", 9) == nil || idx.Remove("x", "", 1) {
		t.Fatal("a bad insert or a missing remove succeeded")
	}
	if !idx.Remove("c", "", 4) {
		t.Fatal("remove failed")
	}
	idx.Match("a.b")              // miss: a.b, a.* and the group
	idx.MatchBytes([]byte("a.b")) // hit
	idx.Match("a.b")              // hit
	idx.MatchBytes([]byte("zzz")) // miss, cached empty
	st := idx.Stats()
	want := IndexStats{
		Subscriptions: 4, Cached: 2, Inserts: 5, Removes: 1,
		Matches: 4, CacheHits: 2, MaxFanout: 3, TotalFanout: 3,
	}
	if st != want {
		t.Fatalf("stats %+v, want %+v", st, want)
	}
}
