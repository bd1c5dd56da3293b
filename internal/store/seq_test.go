package store

import (
	"errors"
	"math"
	randv2 "math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestPurgeSeqOverflow: a purge that would move the stream so far
// forward that appends could wrap is refused and changes nothing; the
// largest allowed one leaves exactly MaxSeq for appends, after which
// appends fail instead of wrapping, before and after a restart.
func TestPurgeSeqOverflow(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := h.create(Config{})
		mustAppend(t, s, "a", "1", AppendOpts{})
		mustAppend(t, s, "b", "2", AppendOpts{})
		for _, seq := range []uint64{math.MaxUint64, math.MaxUint64 - 1, MaxSeq + 1} {
			if _, err := s.Purge(PurgeOpts{Seq: seq}); !errors.Is(err, ErrSeqOverflow) {
				t.Fatalf("Purge(seq %d) = %v, want ErrSeqOverflow", seq, err)
			}
		}
		if st := s.State(); st.Msgs != 2 || st.LastSeq != 2 {
			t.Fatalf("refused purge changed the stream: %+v", st)
		}
		if n, err := s.Purge(PurgeOpts{Seq: MaxSeq}); err != nil || n != 2 {
			t.Fatalf("Purge(MaxSeq) = %d, %v", n, err)
		}
		if st := s.State(); st.LastSeq != MaxSeq-1 || st.FirstSeq != MaxSeq || st.Msgs != 0 {
			t.Fatalf("state after purge to MaxSeq: %+v", st)
		}
		if r := mustAppend(t, s, "c", "3", AppendOpts{}); r.Seq != MaxSeq {
			t.Fatalf("append after purge: seq %d, want %d", r.Seq, uint64(MaxSeq))
		}
		check := func() {
			t.Helper()
			if _, err := s.Append("d", nil, []byte("4"), AppendOpts{}); !errors.Is(err, ErrSeqOverflow) {
				t.Fatalf("append at MaxSeq = %v, want ErrSeqOverflow", err)
			}
			st := s.State()
			if st.LastSeq != MaxSeq || st.Msgs != 1 {
				t.Fatalf("state at MaxSeq: %+v", st)
			}
			if m, err := s.GetNext(">", 0); err != nil || m.Seq != MaxSeq {
				t.Fatalf("GetNext = %v, %v", m, err)
			}
			n := 0
			if err := s.LastPerSubject(">", func(*Msg) bool { n++; return true }); err != nil || n != 1 {
				t.Fatalf("LastPerSubject: %d, %v", n, err)
			}
		}
		check()
		if h.kind == FileStorage {
			h.reopen()
			var err error
			if s, err = h.st.Stream("KV_test"); err != nil {
				t.Fatal(err)
			}
			check()
		}
		if n, err := s.Purge(PurgeOpts{}); err != nil || n != 1 {
			t.Fatalf("purge all at MaxSeq: %d, %v", n, err)
		}
		if st := s.State(); st.LastSeq != MaxSeq || st.Msgs != 0 {
			t.Fatalf("state after purge all: %+v", st)
		}
	})
}

// TestAppendNeverWraps: a stream whose last sequence is the largest
// uint64 (a store written before the limit existed) refuses appends and
// writes no expiry marker, instead of wrapping to 0.
func TestAppendNeverWraps(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := h.create(Config{MaxAge: time.Minute, SubjectDeleteMarkerTTL: time.Minute, AllowMsgTTL: true})
		mustAppend(t, s, "a", "1", AppendOpts{})
		x := s.(*stream)
		x.mu.Lock()
		x.lastSeq = math.MaxUint64
		x.mu.Unlock()
		if _, err := s.Append("a", nil, []byte("2"), AppendOpts{}); !errors.Is(err, ErrSeqOverflow) {
			t.Fatalf("append at MaxUint64 = %v, want ErrSeqOverflow", err)
		}
		// Expiry empties "a": its marker would need a sequence.
		h.clock.Advance(2 * time.Minute)
		waitFor(t, "a to expire", func() bool { return s.State().Msgs == 0 })
		if st := s.State(); st.LastSeq != math.MaxUint64 {
			t.Fatalf("expiry moved the last sequence: %+v", st)
		}
		if _, err := s.Get(0); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a message at sequence 0: %v", err)
		}
	})
}

// TestPurgeForwardSurvivesCrash: a stream moved forward by a purge
// continues at the purge point after a process crash (no Close), and
// after a later purge of messages appended past it; no sequence is
// reused.
func TestPurgeForwardSurvivesCrash(t *testing.T) {
	fs := vfs.NewCrashableMem()
	rng := randv2.New(randv2.NewPCG(3, 4))
	opts := Options{fs: fs, SyncInterval: time.Hour, manualExpiry: true}
	st, err := Open("/db", opts)
	if err != nil {
		t.Fatal(err)
	}
	s, err := st.CreateStream(Config{Name: "KV_fwd"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, "a", "1", AppendOpts{})
	mustAppend(t, s, "b", "2", AppendOpts{})
	if _, err := s.Purge(PurgeOpts{Seq: 1000}); err != nil {
		t.Fatal(err)
	}
	crash := func() {
		t.Helper()
		clone := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 100, RNG: rng})
		st.Close()
		fs = clone
		opts.fs = clone
		if st, err = Open("/db", opts); err != nil {
			t.Fatal(err)
		}
		if s, err = st.Stream("KV_fwd"); err != nil {
			t.Fatal(err)
		}
	}
	crash()
	if r := mustAppend(t, s, "c", "3", AppendOpts{}); r.Seq != 1000 {
		t.Fatalf("first append after purge and crash: seq %d, want 1000", r.Seq)
	}
	mustAppend(t, s, "d", "4", AppendOpts{})
	mustAppend(t, s, "e", "5", AppendOpts{}) // 1002
	if err := s.Delete(1002); err != nil {
		t.Fatal(err)
	}
	crash()
	if r := mustAppend(t, s, "f", "6", AppendOpts{}); r.Seq != 1003 {
		t.Fatalf("append after deleting the last message and a crash: seq %d, want 1003", r.Seq)
	}
	if _, err := s.Purge(PurgeOpts{}); err != nil {
		t.Fatal(err)
	}
	crash()
	if r := mustAppend(t, s, "g", "7", AppendOpts{}); r.Seq != 1004 {
		t.Fatalf("append after purging everything and a crash: seq %d, want 1004", r.Seq)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}
