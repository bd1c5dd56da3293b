package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// snapshotDrain returns "subject=data@seq" for every message left in sn.
func snapshotDrain(t *testing.T, sn Snapshot) string {
	t.Helper()
	var out []string
	for {
		m, err := sn.Next()
		if errors.Is(err, ErrNotFound) {
			return strings.Join(out, " ")
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		out = append(out, fmt.Sprintf("%s=%s@%d", strings.TrimPrefix(m.Subject, "$KV.b."), m.Data, m.Seq))
	}
}

func TestSnapshotPinned(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := h.create(Config{MaxMsgsPerSubject: 1})
		mustAppend(t, s, "$KV.b.a", "1", AppendOpts{})
		mustAppend(t, s, "$KV.b.b", "2", AppendOpts{})
		mustAppend(t, s, "$KV.b.a", "3", AppendOpts{})
		mustAppend(t, s, "$KV.b.x.c", "4", AppendOpts{})
		sn, err := s.SnapshotLastPerSubject(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer sn.Close()
		if sn.LastSeq() != 4 || sn.Remaining() != 3 {
			t.Fatalf("LastSeq %d Remaining %d, want 4 and 3", sn.LastSeq(), sn.Remaining())
		}
		// Rewrites (history 1 removes the old revision), a delete, a
		// rollup purge and new subjects after the snapshot change
		// nothing in it.
		mustAppend(t, s, "$KV.b.b", "5", AppendOpts{})
		if err := s.Delete(3); err != nil {
			t.Fatal(err)
		}
		mustAppend(t, s, "$KV.b.x.c", "6", AppendOpts{Rollup: RollupAll})
		mustAppend(t, s, "$KV.b.new", "7", AppendOpts{})
		if got, want := snapshotDrain(t, sn), "b=2@2 a=3@3 x.c=4@4"; got != want {
			t.Fatalf("snapshot %q, want %q", got, want)
		}
		if sn.Remaining() != 0 {
			t.Fatalf("Remaining %d after the end", sn.Remaining())
		}
		sn.Close()
		sn.Close() // idempotent
		if _, err := sn.Next(); !errors.Is(err, ErrClosed) {
			t.Fatalf("Next after Close: %v", err)
		}
	})
}

func TestSnapshotFilters(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := h.create(Config{})
		for i, subj := range []string{"a", "x.b", "a", "x.c", "y", "x.b"} {
			mustAppend(t, s, "$KV.b."+subj, fmt.Sprint(i+1), AppendOpts{})
		}
		for _, tc := range []struct {
			filters []string
			want    string
		}{
			{nil, "a=3@3 x.c=4@4 y=5@5 x.b=6@6"},
			{[]string{">"}, "a=3@3 x.c=4@4 y=5@5 x.b=6@6"},
			{[]string{"$KV.b.x.*"}, "x.c=4@4 x.b=6@6"},
			{[]string{"$KV.b.y", "$KV.b.a"}, "a=3@3 y=5@5"},
			{[]string{"$KV.b.y", "$KV.b.x.>"}, "x.c=4@4 y=5@5 x.b=6@6"},
			{[]string{"$KV.b.none"}, ""},
		} {
			sn, err := s.SnapshotLastPerSubject(tc.filters)
			if err != nil {
				t.Fatal(err)
			}
			if got := snapshotDrain(t, sn); got != tc.want {
				t.Errorf("filters %q: %q, want %q", tc.filters, got, tc.want)
			}
			sn.Close()
		}
		if _, err := s.SnapshotLastPerSubject([]string{"a..b"}); !errors.Is(err, ErrInvalidSubject) {
			t.Fatalf("bad filter: %v", err)
		}
	})
}

func TestSnapshotMatcher(t *testing.T) {
	filters := []string{"$KV.b.>", "a.>", ">", "a.*.>", "a.b", "*.>", "a.*"}
	subjects := []string{"$KV.b.k", "$KV.b.x.y", "$KV.bb.k", "$KV.b", "a", "a.b", "a.b.c", "ab.c", "b.a"}
	for _, f := range filters {
		for _, subj := range subjects {
			if got, want := snapshotMatcher(f)(subj), matcher(f)(subj); got != want {
				t.Errorf("snapshotMatcher(%q)(%q) = %v, want %v", f, subj, got, want)
			}
		}
	}
}

// TestSnapshotCaptureWhileWritten: the capture walks the index in
// chunks with the lock released between them; rewrites, deletes, purges
// and a rollup made meanwhile change nothing in the snapshot.
func TestSnapshotCaptureWhileWritten(t *testing.T) {
	defer func(n int) { snapshotCaptureChunk, captureBetweenChunks = n, nil }(snapshotCaptureChunk)
	snapshotCaptureChunk = 4
	for _, history := range []int64{1, 3} {
		for _, filters := range [][]string{nil, {"$KV.b.>"}, {"$KV.b.*", "$KV.b.none.>"}} {
			t.Run(fmt.Sprintf("history=%d/filters=%q", history, filters), func(t *testing.T) {
				forEachStorage(t, func(t *testing.T, h *harness) {
					s := h.create(Config{MaxMsgsPerSubject: history})
					rng := rand.New(rand.NewPCG(uint64(history), 9))
					const keys = 60
					for i := range 3 * keys {
						mustAppend(t, s, fmt.Sprintf("$KV.b.k%d", rng.IntN(keys)), fmt.Sprint("v", i), AppendOpts{})
					}
					var want []string
					var lasts []uint64
					if err := s.LastPerSubject(">", func(m *Msg) bool {
						want = append(want, fmt.Sprintf("%s=%s@%d", strings.TrimPrefix(m.Subject, "$KV.b."), m.Data, m.Seq))
						lasts = append(lasts, m.Seq)
						return true
					}); err != nil {
						t.Fatal(err)
					}
					calls := 0
					captureBetweenChunks = func() {
						calls++
						key := fmt.Sprintf("$KV.b.k%d", rng.IntN(keys))
						switch calls % 5 {
						case 0:
							mustAppend(t, s, key, "rewritten", AppendOpts{})
						case 1:
							_ = s.Delete(lasts[rng.IntN(len(lasts))]) // may be gone already
						case 2:
							if _, err := s.Purge(PurgeOpts{Subject: key}); err != nil {
								t.Fatal(err)
							}
						case 3:
							s.Append(key, []byte("NATS/1.0\r\nKV-Operation: DEL\r\n\r\n"), nil, AppendOpts{})
						case 4:
							if calls == 10 {
								mustAppend(t, s, key, "rollup", AppendOpts{Rollup: RollupAll})
							}
						}
					}
					sn, err := s.SnapshotLastPerSubject(filters)
					captureBetweenChunks = nil
					if err != nil {
						t.Fatal(err)
					}
					defer sn.Close()
					if calls < 10 {
						t.Fatalf("only %d chunks", calls)
					}
					if got := snapshotDrain(t, sn); got != strings.Join(want, " ") {
						t.Fatalf("snapshot\n got %s\nwant %s", got, strings.Join(want, " "))
					}
				})
			})
		}
	}
}

// TestSnapshotManyKeys reads past the chunk the file backend reads at
// once, while every key is rewritten.
func TestSnapshotManyKeys(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := h.create(Config{MaxMsgsPerSubject: 1})
		const keys = 3*snapshotReadChunk + 7
		for i := range keys {
			mustAppend(t, s, fmt.Sprintf("$KV.b.k%d", i), "old", AppendOpts{})
		}
		sn, err := s.SnapshotLastPerSubject([]string{"$KV.b.>"})
		if err != nil {
			t.Fatal(err)
		}
		defer sn.Close()
		for i := range keys {
			mustAppend(t, s, fmt.Sprintf("$KV.b.k%d", i), "new", AppendOpts{})
		}
		for i := range keys {
			m, err := sn.Next()
			if err != nil || m.Seq != uint64(i+1) || string(m.Data) != "old" {
				t.Fatalf("message %d: %+v, %v", i, m, err)
			}
		}
		if _, err := sn.Next(); !errors.Is(err, ErrNotFound) {
			t.Fatalf("after the last: %v", err)
		}
	})
}

// TestSnapshotReleasedWithStream: deleting the stream or closing the
// store releases open snapshots (Pebble refuses to close with one open).
func TestSnapshotReleasedWithStream(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := h.create(Config{})
		mustAppend(t, s, "$KV.b.a", "1", AppendOpts{})
		sn, err := s.SnapshotLastPerSubject(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.st.DeleteStream("KV_test"); err != nil {
			t.Fatal(err)
		}
		if _, err := sn.Next(); !errors.Is(err, ErrClosed) {
			t.Fatalf("Next after the stream was deleted: %v", err)
		}
		sn.Close()
		if _, err := s.SnapshotLastPerSubject(nil); !errors.Is(err, ErrClosed) {
			t.Fatalf("snapshot of a deleted stream: %v", err)
		}

		s = h.create(Config{Name: "KV_other"})
		mustAppend(t, s, "$KV.b.a", "1", AppendOpts{})
		if _, err := s.SnapshotLastPerSubject(nil); err != nil {
			t.Fatal(err)
		}
		if err := h.st.Close(); err != nil {
			t.Fatalf("Close with an open snapshot: %v", err)
		}
	})
}

// BenchmarkSnapshotCapture measures taking a snapshot of 100k keys (the
// walk of the index under the read lock) and releasing it.
func BenchmarkSnapshotCapture(b *testing.B) {
	for _, kind := range []StorageType{MemoryStorage, FileStorage} {
		b.Run(kind.String(), func(b *testing.B) {
			st, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			s, err := st.CreateStream(Config{Name: "KV_b", Subjects: []string{"$KV.b.>"}, Storage: kind, MaxMsgsPerSubject: 1}, nil)
			if err != nil {
				b.Fatal(err)
			}
			const keys = 100_000
			for i := range keys {
				if _, err := s.Append(fmt.Sprintf("$KV.b.k%d", i), nil, []byte("v"), AppendOpts{}); err != nil {
					b.Fatal(err)
				}
			}
			filter := []string{"$KV.b.>"}
			if os.Getenv("SNAPBENCH_ALL") != "" {
				filter = nil
			}
			b.ResetTimer()
			for range b.N {
				sn, err := s.SnapshotLastPerSubject(filter)
				if err != nil {
					b.Fatal(err)
				}
				if sn.Remaining() != keys {
					b.Fatalf("%d keys", sn.Remaining())
				}
				sn.Close()
			}
		})
	}
}

// TestSnapshotManyFilters: a capture tested every entry against each
// filter in turn, under the read lock, so a watch with thousands of
// filters held appends back for a long time per chunk. Every entry is
// now tested once, however many filters there are.
func TestSnapshotManyFilters(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := h.create(Config{})
		const n = 2000
		for i := range n {
			mustAppend(t, s, fmt.Sprintf("$KV.b.k%d", i%700), "v", AppendOpts{})
		}
		tested := countMatches(t)
		orig := matcherAny
		matcherAny = func(filters []string) func(string) bool {
			m := orig(filters)
			return func(s string) bool { *tested++; return m(s) }
		}
		t.Cleanup(func() { matcherAny = orig })
		filters := []string{"$KV.b.w.*"}
		for i := range 1000 {
			filters = append(filters, fmt.Sprintf("$KV.b.k%d", 3*i))
		}
		sn, err := s.SnapshotLastPerSubject(filters)
		if err != nil {
			t.Fatal(err)
		}
		defer sn.Close()
		if got, want := sn.Remaining(), 700/3+1; got != want {
			t.Fatalf("%d messages, want %d", got, want)
		}
		if *tested > 2*n {
			t.Fatalf("%d subject tests for %d messages and %d filters", *tested, n, len(filters))
		}
	})
}
