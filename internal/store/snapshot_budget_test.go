package store

import (
	"errors"
	"fmt"
	"testing"
)

// withSnapshotBudget reopens h's store (still empty) with a snapshot
// budget of max entries.
func withSnapshotBudget(t *testing.T, h *harness, max int64) {
	t.Helper()
	if err := h.st.Close(); err != nil {
		t.Fatal(err)
	}
	h.opts.MaxSnapshotEntries = max
	h.open()
}

func wantSnapshotEntries(t *testing.T, st *Store, want int64) {
	t.Helper()
	if got := st.SnapshotEntries(); got != want {
		t.Fatalf("SnapshotEntries %d, want %d", got, want)
	}
}

func mustSnapshot(t *testing.T, s Stream, filters ...string) Snapshot {
	t.Helper()
	sn, err := s.SnapshotLastPerSubject(filters)
	if err != nil {
		t.Fatalf("SnapshotLastPerSubject(%q): %v", filters, err)
	}
	return sn
}

func wantBudgetRefusal(t *testing.T, s Stream, filters ...string) {
	t.Helper()
	sn, err := s.SnapshotLastPerSubject(filters)
	if !errors.Is(err, ErrSnapshotBudget) {
		if sn != nil {
			sn.Close()
		}
		t.Fatalf("SnapshotLastPerSubject(%q): %v, want ErrSnapshotBudget", filters, err)
	}
}

// The budget bounds the entries of every open snapshot together, across
// streams; a refused capture holds nothing; closing a snapshot, deleting
// its stream or closing the store gives its entries back.
func TestSnapshotBudget(t *testing.T) {
	defer func(old int) { snapshotCaptureChunk = old }(snapshotCaptureChunk)
	snapshotCaptureChunk = 2 // the walk reserves chunk by chunk
	forEachStorage(t, func(t *testing.T, h *harness) {
		withSnapshotBudget(t, h, 10)
		s := h.create(Config{Name: "KV_a", MaxMsgsPerSubject: 1})
		other := h.create(Config{Name: "KV_b", MaxMsgsPerSubject: 1})
		for _, k := range []string{"a", "b", "c", "d"} {
			mustAppend(t, s, "$KV.a."+k, k, AppendOpts{})
			mustAppend(t, other, "$KV.b."+k, k, AppendOpts{})
		}
		first := mustSnapshot(t, s)
		second := mustSnapshot(t, other, "$KV.b.>")
		wantSnapshotEntries(t, h.st, 8)
		wantBudgetRefusal(t, s)                                      // a walk: 12 > 10
		wantBudgetRefusal(t, other, "$KV.b.a", "$KV.b.b", "$KV.b.c") // literal: 11 > 10
		wantSnapshotEntries(t, h.st, 8)
		literal := mustSnapshot(t, s, "$KV.a.a", "$KV.a.b", "$KV.a.zz")
		wantSnapshotEntries(t, h.st, 10)
		empty := mustSnapshot(t, s, "$KV.a.none.>") // matches nothing: free
		wantSnapshotEntries(t, h.st, 10)
		if got := snapshotDrain(t, empty); got != "" {
			t.Fatalf("empty snapshot delivered %q", got)
		}
		empty.Close()

		first.Close()
		wantSnapshotEntries(t, h.st, 6)
		again := mustSnapshot(t, s) // the entries came back
		wantSnapshotEntries(t, h.st, 10)
		if got, want := snapshotDrain(t, again), "$KV.a.a=a@1 $KV.a.b=b@2 $KV.a.c=c@3 $KV.a.d=d@4"; got != want {
			t.Fatalf("snapshot after a refusal %q, want %q", got, want)
		}
		again.Close()
		literal.Close()
		wantSnapshotEntries(t, h.st, 4)

		if err := h.st.DeleteStream("KV_b"); err != nil {
			t.Fatal(err)
		}
		wantSnapshotEntries(t, h.st, 0)
		if _, err := second.Next(); !errors.Is(err, ErrClosed) {
			t.Fatalf("Next after the stream was deleted: %v", err)
		}
		second.Close()
		wantSnapshotEntries(t, h.st, 0)

		held := mustSnapshot(t, s)
		wantSnapshotEntries(t, h.st, 4)
		if err := h.st.Close(); err != nil {
			t.Fatal(err)
		}
		wantSnapshotEntries(t, h.st, 0)
		held.Close()
		wantSnapshotEntries(t, h.st, 0)
	})
}

// Entries go back to the budget as they are delivered, not only when
// the snapshot is closed.
func TestSnapshotBudgetReleasedAsDelivered(t *testing.T) {
	defer func(old int) { snapshotShrinkMin = old }(snapshotShrinkMin)
	snapshotShrinkMin = 4
	forEachStorage(t, func(t *testing.T, h *harness) {
		withSnapshotBudget(t, h, 40)
		s := h.create(Config{MaxMsgsPerSubject: 1})
		for i := range 30 {
			mustAppend(t, s, fmt.Sprintf("$KV.b.k%02d", i), "v", AppendOpts{})
		}
		sn := mustSnapshot(t, s)
		defer sn.Close()
		wantSnapshotEntries(t, h.st, 30)
		wantBudgetRefusal(t, s, "$KV.b.>")
		for i := 0; sn.Remaining() > 5; i++ {
			m, err := sn.Next()
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("$KV.b.k%02d", i); m.Subject != want {
				t.Fatalf("message %d is %s, want %s", i, m.Subject, want)
			}
		}
		// A list is copied once as many entries were delivered as are
		// left, so it holds at most twice what is left.
		if used := h.st.SnapshotEntries(); used > 10 {
			t.Fatalf("SnapshotEntries %d with 5 entries left to deliver, want at most 10", used)
		}
		other := mustSnapshot(t, s, "$KV.b.>") // fits now
		other.Close()
		if got := len(snapshotDrain(t, sn)); got == 0 {
			t.Fatal("the rest of the snapshot is missing")
		}
		sn.Close()
		wantSnapshotEntries(t, h.st, 0)
	})
}

// A negative budget is no limit; the entries are still counted.
func TestSnapshotBudgetUnlimited(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		withSnapshotBudget(t, h, -1)
		s := h.create(Config{})
		mustAppend(t, s, "$KV.b.a", "1", AppendOpts{})
		var all []Snapshot
		for range 100 {
			all = append(all, mustSnapshot(t, s))
		}
		wantSnapshotEntries(t, h.st, 100)
		for _, sn := range all {
			sn.Close()
		}
		wantSnapshotEntries(t, h.st, 0)
	})
}
