package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cairn-db/cairn/internal/subject"
)

// naiveLastUpTo is the reference: every stored message read by
// sequence, the last at or below upTo of each subject matching filters,
// as "subject=data@seq" in sequence order, with From and Limit applied,
// and the counts of the skipped and cut results.
func naiveLastUpTo(t *testing.T, s Stream, q LastUpToQuery) (want []string, skipped, beyond int) {
	t.Helper()
	upTo := s.State().LastSeq
	if q.UpTo != 0 && q.UpTo < upTo {
		upTo = q.UpTo
	}
	last := map[string]*Msg{}
	for seq := uint64(1); seq <= upTo; seq++ {
		m, err := s.Get(seq)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(q.Filters) == 0 || slices.ContainsFunc(q.Filters, func(f string) bool { return subject.Match(f, m.Subject) }) {
			last[m.Subject] = m
		}
	}
	var msgs []*Msg
	for _, m := range last {
		msgs = append(msgs, m)
	}
	slices.SortFunc(msgs, func(a, b *Msg) int { return cmpUint64(a.Seq, b.Seq) })
	for _, m := range msgs {
		switch {
		case m.Seq < q.From:
			skipped++
		case q.Limit > 0 && len(want) >= q.Limit:
			beyond++
		default:
			want = append(want, fmt.Sprintf("%s=%s@%d", strings.TrimPrefix(m.Subject, "$KV.b."), m.Data, m.Seq))
		}
	}
	return want, skipped, beyond
}

// checkLastUpTo compares SnapshotLastUpTo with the reference computed
// by the caller beforehand.
func checkLastUpTo(t *testing.T, sn LastUpToSnapshot, want []string, skipped, beyond int) {
	t.Helper()
	defer sn.Close()
	if sn.Skipped() != skipped || sn.Beyond() != beyond {
		t.Errorf("skipped %d beyond %d, want %d and %d", sn.Skipped(), sn.Beyond(), skipped, beyond)
	}
	if got := snapshotDrain(t, sn); got != strings.Join(want, " ") {
		t.Errorf("answer\n got %s\nwant %s", got, strings.Join(want, " "))
	}
}

func TestLastUpToHistory(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := h.create(Config{MaxMsgsPerSubject: 5})
		for i, subj := range []string{"a", "b", "a", "x.c", "b", "a", "x.d", "y"} {
			mustAppend(t, s, "$KV.b."+subj, fmt.Sprint(i+1), AppendOpts{})
		}
		for _, tc := range []struct {
			q    LastUpToQuery
			want string
		}{
			{LastUpToQuery{UpTo: 2}, "a=1@1 b=2@2"},
			{LastUpToQuery{UpTo: 3}, "b=2@2 a=3@3"},
			{LastUpToQuery{UpTo: 5, Filters: []string{"$KV.b.a", "$KV.b.x.*"}}, "a=3@3 x.c=4@4"},
			{LastUpToQuery{Filters: []string{"$KV.b.>"}}, "x.c=4@4 b=5@5 a=6@6 x.d=7@7 y=8@8"},
			{LastUpToQuery{UpTo: 100, Filters: []string{"$KV.b.x.>", "$KV.b.*.d"}}, "x.c=4@4 x.d=7@7"},
			{LastUpToQuery{UpTo: 6, From: 5}, "b=5@5 a=6@6"},
			{LastUpToQuery{UpTo: 6, Limit: 2}, "x.c=4@4 b=5@5"},
			{LastUpToQuery{Filters: []string{"$KV.b.none"}}, ""},
		} {
			sn, err := s.(LastUpToReader).SnapshotLastUpTo(tc.q)
			if err != nil {
				t.Fatal(err)
			}
			want, skipped, beyond := naiveLastUpTo(t, s, tc.q)
			if strings.Join(want, " ") != tc.want {
				t.Fatalf("%+v: reference %q, want %q", tc.q, want, tc.want)
			}
			if tc.q.UpTo != 0 && tc.q.UpTo < 8 && sn.LastSeq() != tc.q.UpTo {
				t.Errorf("%+v: LastSeq %d", tc.q, sn.LastSeq())
			}
			checkLastUpTo(t, sn, want, skipped, beyond)
		}
		if _, err := s.(LastUpToReader).SnapshotLastUpTo(LastUpToQuery{Filters: []string{"a..b"}}); !errors.Is(err, ErrInvalidSubject) {
			t.Fatalf("malformed filter: %v", err)
		}
	})
}

// TestLastUpToModel compares random queries, on the tree and the walk
// paths, with the reference.
func TestLastUpToModel(t *testing.T) {
	filterSets := [][]string{nil, {">"}, {"$KV.b.k1"}, {"$KV.b.k1", "$KV.b.k7", "$KV.b.zz"},
		{"$KV.b.*"}, {"$KV.b.g.*", "$KV.b.k2"}, {"$KV.b.g.>", "$KV.b.*.x"}}
	defer func(l int) { upToTreeLimit = l }(upToTreeLimit)
	upToTreeLimit = 12 // some filters fit the tree, others walk
	forEachStorage(t, func(t *testing.T, h *harness) {
		for _, history := range []int64{1, 3} {
			s := h.create(Config{Name: fmt.Sprint("h", history), MaxMsgsPerSubject: history})
			rng := rand.New(rand.NewPCG(uint64(history), 13))
			for i := range 400 {
				key := fmt.Sprintf("k%d", rng.IntN(30))
				if rng.IntN(3) == 0 {
					key = fmt.Sprintf("g.%d", rng.IntN(20))
				}
				mustAppend(t, s, "$KV.b."+key, fmt.Sprint("v", i), AppendOpts{})
				if rng.IntN(40) == 0 {
					_ = s.Delete(uint64(1 + rng.IntN(i+1)))
				}
			}
			last := s.State().LastSeq
			for i := range 200 {
				q := LastUpToQuery{Filters: filterSets[rng.IntN(len(filterSets))]}
				if rng.IntN(4) > 0 {
					q.UpTo = uint64(rng.IntN(int(last) + 20))
				}
				if rng.IntN(3) == 0 {
					q.From = uint64(rng.IntN(int(last)))
				}
				if rng.IntN(3) == 0 {
					q.Limit = 1 + rng.IntN(20)
				}
				sn, err := s.(LastUpToReader).SnapshotLastUpTo(q)
				if err != nil {
					t.Fatal(err)
				}
				want, skipped, beyond := naiveLastUpTo(t, s, q)
				t.Run(fmt.Sprint(history, "/", i), func(t *testing.T) { checkLastUpTo(t, sn, want, skipped, beyond) })
			}
		}
	})
}

// TestLastUpToWhileWritten rewrites, deletes and purges keys between
// the chunks of the walk: the answer is still the one of the moment it
// started.
func TestLastUpToWhileWritten(t *testing.T) {
	defer func(n, l int) {
		snapshotCaptureChunk, captureBetweenChunks, upToTreeLimit = n, nil, l
	}(snapshotCaptureChunk, upToTreeLimit)
	snapshotCaptureChunk, upToTreeLimit = 4, 10 // the walk, not the tree
	for _, history := range []int64{1, 3} {
		for _, q := range []LastUpToQuery{{}, {Filters: []string{"$KV.b.>"}, Limit: 7}, {From: 40}, {UpTo: 120, From: 30, Limit: 5}} {
			t.Run(fmt.Sprintf("history=%d/%+v", history, q), func(t *testing.T) {
				forEachStorage(t, func(t *testing.T, h *harness) {
					s := h.create(Config{MaxMsgsPerSubject: history})
					rng := rand.New(rand.NewPCG(uint64(history), 5))
					const keys = 60
					for i := range 3 * keys {
						mustAppend(t, s, fmt.Sprintf("$KV.b.k%d", rng.IntN(keys)), fmt.Sprint("v", i), AppendOpts{})
					}
					want, skipped, beyond := naiveLastUpTo(t, s, q)
					calls := 0
					captureBetweenChunks = func() {
						calls++
						key := fmt.Sprintf("$KV.b.k%d", rng.IntN(keys))
						switch calls % 4 {
						case 0:
							mustAppend(t, s, key, "rewritten", AppendOpts{})
						case 1:
							_ = s.Delete(uint64(1 + rng.IntN(3*keys))) // may be gone already
						case 2:
							if _, err := s.Purge(PurgeOpts{Subject: key}); err != nil {
								t.Fatal(err)
							}
						case 3:
							mustAppend(t, s, key, "again", AppendOpts{})
						}
					}
					sn, err := s.(LastUpToReader).SnapshotLastUpTo(q)
					captureBetweenChunks = nil
					if err != nil {
						t.Fatal(err)
					}
					if calls < 10 {
						t.Fatalf("only %d chunks", calls)
					}
					checkLastUpTo(t, sn, want, skipped, beyond)
				})
			})
		}
	}
}

// TestLastUpToManyFilters: more filters than the tree path takes walk
// the index, with the same answer.
func TestLastUpToManyFilters(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := h.create(Config{MaxMsgsPerSubject: 2})
		for i := range 300 {
			mustAppend(t, s, fmt.Sprintf("$KV.b.k%d.x", i%120), fmt.Sprint(i), AppendOpts{})
		}
		var literals, wildcards []string
		for i := 0; i < upToTreeLiterals+10; i++ {
			literals = append(literals, fmt.Sprintf("$KV.b.k%d.x", i*7))
		}
		for i := 0; i < upToTreeWildcards+3; i++ {
			wildcards = append(wildcards, fmt.Sprintf("$KV.b.k%d.*", i*3))
		}
		for _, q := range []LastUpToQuery{{Filters: literals, UpTo: 250}, {Filters: wildcards, UpTo: 200, Limit: 4}} {
			sn, err := s.(LastUpToReader).SnapshotLastUpTo(q)
			if err != nil {
				t.Fatal(err)
			}
			want, skipped, beyond := naiveLastUpTo(t, s, q)
			if len(want) == 0 {
				t.Fatal("empty reference")
			}
			checkLastUpTo(t, sn, want, skipped, beyond)
		}
	})
}
