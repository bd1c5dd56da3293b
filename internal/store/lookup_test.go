package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// countMatches makes matcher count the subjects it tests until the test
// ends, and returns the counter.
func countMatches(t *testing.T) *int {
	n := new(int)
	orig := matcher
	matcher = func(f string) func(string) bool {
		m := orig(f)
		return func(s string) bool { *n++; return m(s) }
	}
	t.Cleanup(func() { matcher = orig })
	return n
}

// lookupStream fills a stream with n messages over subjects
// "g<i%groups>.k<i%keys>", the clock advancing 1ms per message, then
// deletes every third message of the first half.
func lookupStream(t *testing.T, h *harness, n, keys, groups int) Stream {
	s := h.create(Config{})
	for i := 0; i < n; i++ {
		h.clock.Advance(time.Millisecond)
		k := i % keys
		mustAppend(t, s, fmt.Sprintf("g%d.k%d", k%groups, k), "v", AppendOpts{})
	}
	for seq := uint64(1); seq < uint64(n/2); seq += 3 {
		if err := s.Delete(seq); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// naiveNext is GetNext by reading every sequence.
func naiveNext(s Stream, filter string, start uint64) uint64 {
	last := s.State().LastSeq
	for seq := max(start, 1); seq <= last; seq++ {
		if m, err := s.Get(seq); err == nil && subjectMatchesNaive(filter, m.Subject) {
			return seq
		}
	}
	return 0
}

func TestWildcardLookupsMatchScan(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := lookupStream(t, h, 3000, 500, 7)
		rng := rand.New(rand.NewPCG(1, 2))
		filters := []string{"", ">", "g3.*", "g3.>", "*.k10", "*.k999", "g9.*", "*.*", "g1.k1", "x.>"}
		for i := 0; i < 400; i++ {
			f := filters[rng.IntN(len(filters))]
			start := uint64(rng.IntN(3100))
			want := naiveNext(s, f, start)
			m, err := s.GetNext(f, start)
			if got := uint64(0); err == nil {
				got = m.Seq
				if got != want {
					t.Fatalf("GetNext(%q, %d) = %d, want %d", f, start, got, want)
				}
			} else if want != 0 || !errors.Is(err, ErrNotFound) {
				t.Fatalf("GetNext(%q, %d): %v, want %d", f, start, err, want)
			}
		}
		for i := 0; i < 200; i++ {
			f := filters[rng.IntN(len(filters))]
			start := uint64(rng.IntN(3100))
			lps := i%2 == 1
			var want uint64
			lastOf := map[string]uint64{}
			for seq := uint64(1); seq <= s.State().LastSeq; seq++ {
				if m, err := s.Get(seq); err == nil && subjectMatchesNaive(f, m.Subject) {
					lastOf[m.Subject] = seq
					if !lps && seq >= start {
						want++
					}
				}
			}
			if lps {
				for _, last := range lastOf {
					if last >= start {
						want++
					}
				}
			}
			if got := s.NumPending(f, start, lps); got != want {
				t.Fatalf("NumPending(%q, %d, %v) = %d, want %d", f, start, lps, got, want)
			}
		}
		for _, f := range filters {
			want := uint64(0)
			for seq := s.State().LastSeq; seq > 0; seq-- {
				if m, err := s.Get(seq); err == nil && subjectMatchesNaive(f, m.Subject) {
					want = seq
					break
				}
			}
			m, err := s.LastMatching(f)
			if (want == 0) != errors.Is(err, ErrNotFound) || (err == nil && m.Seq != want) {
				t.Fatalf("LastMatching(%q) = %v, %v, want %d", f, m, err, want)
			}
			lastOf := map[string]uint64{}
			for seq := uint64(1); seq <= s.State().LastSeq; seq++ {
				if m, err := s.Get(seq); err == nil && subjectMatchesNaive(f, m.Subject) {
					lastOf[m.Subject] = seq
				}
			}
			var wantLasts, gotLasts []uint64
			for _, seq := range lastOf {
				wantLasts = append(wantLasts, seq)
			}
			slices.Sort(wantLasts)
			if err := s.LastPerSubject(f, func(m *Msg) bool { gotLasts = append(gotLasts, m.Seq); return true }); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(gotLasts, wantLasts) {
				t.Fatalf("LastPerSubject(%q): %d subjects, want %d", f, len(gotLasts), len(wantLasts))
			}
			ss := s.(*stream)
			ss.mu.RLock()
			got := ss.ix.lastSeqMatching(f)
			ss.mu.RUnlock()
			if got != want {
				t.Fatalf("lastSeqMatching(%q) = %d, want %d", f, got, want)
			}
		}
	})
}

// TestWildcardLookupsAreBounded: a wildcard filter that matches nothing,
// or little, must not test every message (GetNext, the direct get
// next_by_subj, consumers) or every subject (the expected last subject
// sequence check, the direct get last_by_subj). Before the subject tree
// each of these tested all 20k messages or 5k subjects.
func TestWildcardLookupsAreBounded(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := lookupStream(t, h, 20000, 5000, 100)
		mustAppend(t, s, "rare.x", "v", AppendOpts{})
		for i := 0; i < 1000; i++ {
			mustAppend(t, s, fmt.Sprintf("g1.k%d", i), "v", AppendOpts{})
		}
		n := countMatches(t)
		for _, c := range []struct {
			filter string
			want   uint64
		}{{"none.*", 0}, {"rare.*", 20001}, {"*.x", 20001}, {"g7.>", 8}} {
			*n = 0
			m, err := s.GetNext(c.filter, 1)
			if c.want == 0 && !errors.Is(err, ErrNotFound) || c.want != 0 && (err != nil || m.Seq != c.want) {
				t.Fatalf("GetNext(%q) = %v, %v, want %d", c.filter, m, err, c.want)
			}
			if *n > 2*nextScanLimit {
				t.Fatalf("GetNext(%q) tested %d subjects", c.filter, *n)
			}
			*n = 0
			_, err = s.Append("y", nil, nil, AppendOpts{HasExpectedLastSubjSeq: true,
				ExpectedLastSubjSeq: 12345, ExpectedLastSubjSeqSubject: c.filter})
			var wse *WrongSequenceError
			if !errors.As(err, &wse) || (c.want == 20001) != (wse.Last == 20001) {
				t.Fatalf("expected-last-subject %q: %v", c.filter, err)
			}
			*n = 0
			s.LastMatching(c.filter)
			if *n > 2*lastScanLimit {
				t.Fatalf("LastMatching(%q) tested %d subjects", c.filter, *n)
			}
			*n = 0
			s.NumPending(c.filter, 1, false)
			s.NumPending(c.filter, 1, true)
			s.SubjectsState(c.filter)
			s.LastPerSubject(c.filter, func(*Msg) bool { return true })
			if *n > 0 {
				t.Fatalf("NumPending/SubjectsState/LastPerSubject(%q) tested %d subjects", c.filter, *n)
			}
		}
	})
}

func TestSeqForTime(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := h.create(Config{Name: "empty"})
		if got := s.SeqForTime(0); got != 1 {
			t.Fatalf("empty stream: %d", got)
		}
		s = lookupStream(t, h, 2000, 100, 3)
		var times []int64
		for seq := uint64(1); seq <= 2000; seq++ {
			m, err := s.Get(seq)
			if err == nil {
				times = append(times, m.Time)
			}
		}
		for _, at := range []int64{0, times[0], times[0] + 1, times[500], times[len(times)-1], times[len(times)-1] + 1, epoch.UnixNano() + 1} {
			want := uint64(2001)
			for seq := uint64(1); seq <= 2000; seq++ {
				if m, err := s.Get(seq); err == nil && m.Time >= at {
					want = seq
					break
				}
			}
			if got := s.SeqForTime(at); got != want {
				t.Fatalf("SeqForTime(%d) = %d, want %d", at, got, want)
			}
		}
	})
}

func TestDeletedSeqs(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := lookupStream(t, h, 3000, 100, 3)
		for _, seq := range []uint64{2000, 2001, 2999, 3000} {
			if err := s.Delete(seq); err != nil {
				t.Fatal(err)
			}
		}
		var want []uint64
		st := s.State()
		for seq := st.FirstSeq; seq <= st.LastSeq; seq++ {
			if _, err := s.Get(seq); err != nil {
				want = append(want, seq)
			}
		}
		if len(want) != st.NumDeleted {
			t.Fatalf("%d gaps, NumDeleted %d", len(want), st.NumDeleted)
		}
		for _, limit := range []int{1, 7, 100, 10000} {
			var got []uint64
			calls := 0
			for from := uint64(0); ; calls++ {
				page, next := s.DeletedSeqs(from, limit)
				if len(page) > limit {
					t.Fatalf("page of %d for limit %d", len(page), limit)
				}
				got = append(got, page...)
				if next == 0 {
					break
				}
				from = next
			}
			if !slices.Equal(got, want) {
				t.Fatalf("limit %d: %d gaps, want %d (%v...)", limit, len(got), len(want), got[:min(5, len(got))])
			}
		}
		if page, next := s.DeletedSeqs(2999, 10); !slices.Equal(page, []uint64{2999, 3000}) || next != 0 {
			t.Fatalf("tail page %v, %d", page, next)
		}
	})
}

// TestSubjectTreeFollowsSubjects: nodes go away with their subjects.
func TestSubjectTreeFollowsSubjects(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := h.create(Config{})
		for _, subj := range []string{"a", "a.b", "a.b.c", "x.y.z"} {
			mustAppend(t, s, subj, "v", AppendOpts{})
		}
		ss := s.(*stream)
		if err := s.Delete(4); err != nil {
			t.Fatal(err)
		}
		if ss.ix.root.children.get("x", 0) != nil {
			t.Fatal("x.y.z's nodes kept")
		}
		if err := s.Delete(2); err != nil {
			t.Fatal(err)
		}
		mustAppend(t, s, "a.b", "again", AppendOpts{})
		if m, err := s.GetNext("a.*", 1); err != nil || m.Seq != 5 {
			t.Fatalf("a.* after re-adding a.b: %v, %v", m, err)
		}
		if _, err := s.Purge(PurgeOpts{}); err != nil {
			t.Fatal(err)
		}
		if ss.ix.root.children != nil || ss.ix.nsubjects != 0 {
			t.Fatalf("after purge: %v", ss.ix.root.children)
		}
	})
}

// TestLiveBlocks: nextLive and countLive, which cross dead slots a
// block at a time, against a slot-by-slot walk, through removals, runs
// of dead slots and compactions.
func TestLiveBlocks(t *testing.T) {
	ix := newIndex()
	rng := rand.New(rand.NewPCG(7, 8))
	seq := uint64(0)
	check := func() {
		for k := 0; k < 50; k++ {
			p := ix.head + rng.IntN(len(ix.entries)-ix.head+1)
			want := p
			for want < len(ix.entries) && ix.entries[want].subj == nil {
				want++
			}
			if got := ix.nextLive(p); got != want {
				t.Fatalf("nextLive(%d) = %d, want %d", p, got, want)
			}
			q := p + rng.IntN(len(ix.entries)-p+1)
			var n uint64
			for i := p; i < q; i++ {
				if ix.entries[i].subj != nil {
					n++
				}
			}
			if got := ix.countLive(p, q); got != n {
				t.Fatalf("countLive(%d, %d) = %d, want %d", p, q, got, n)
			}
		}
	}
	for round := 0; round < 30; round++ {
		for i := 0; i < 3000; i++ {
			seq++
			ix.add(fmt.Sprintf("s%d", rng.IntN(500)), entry{seq: seq})
		}
		check()
		// A long run of dead slots, then scattered removals.
		from := ix.head + rng.IntN(len(ix.entries)-ix.head)
		for p := from; p < min(from+1500, len(ix.entries)); p++ {
			if ix.entries[p].subj != nil {
				ix.removeAt(p)
			}
		}
		for i := 0; i < 500; i++ {
			if p := ix.head + rng.IntN(len(ix.entries)-ix.head); ix.entries[p].subj != nil {
				ix.removeAt(p)
			}
		}
		check()
		ix.maybeCompact()
		check()
	}
}

// TestSubjectsStateChunked: a wide filter is counted by a walk of the log
// in chunks (the lock released in between); the counts equal those of
// the subject tree, with history, deletions and subjects whose last
// message lies in another chunk than their first.
func TestSubjectsStateChunked(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := h.create(Config{Name: "wide"})
		want := map[string]uint64{}
		const subjects = 3 * subjectsStateChunk
		for round := 0; round < 3; round++ {
			for i := 0; i < subjects; i++ {
				subj := fmt.Sprintf("a.%d.x", i)
				if i%7 == 0 && round > 0 {
					continue
				}
				mustAppend(t, s, subj, "v", AppendOpts{})
				want[subj]++
			}
		}
		// Delete the first message of every fifth subject.
		for i := 0; i < subjects; i += 5 {
			if err := s.Delete(uint64(i + 1)); err != nil {
				t.Fatal(err)
			}
			if want[fmt.Sprintf("a.%d.x", i)]--; want[fmt.Sprintf("a.%d.x", i)] == 0 {
				delete(want, fmt.Sprintf("a.%d.x", i))
			}
		}
		for _, filter := range []string{">", "a.>", "a.*.x", "a.*.*"} {
			got := s.SubjectsState(filter)
			if len(got) != len(want) {
				t.Fatalf("%s: %d subjects, want %d", filter, len(got), len(want))
			}
			for subj, n := range want {
				if got[subj] != n {
					t.Fatalf("%s: %s counts %d, want %d", filter, subj, got[subj], n)
				}
			}
		}
		if got := s.SubjectsState("a.7.*"); len(got) != 1 || got["a.7.x"] != want["a.7.x"] {
			t.Fatalf("narrow filter: %v", got)
		}
	})
}
