package store

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// The conformance suite: every test runs against both implementations
// through the Stream interface.

type harness struct {
	t     *testing.T
	dir   string
	kind  StorageType
	clock *ManualClock
	opts  Options
	st    *Store
}

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func forEachStorage(t *testing.T, fn func(t *testing.T, h *harness)) {
	for _, kind := range []StorageType{MemoryStorage, FileStorage} {
		t.Run(kind.String(), func(t *testing.T) {
			h := &harness{t: t, kind: kind, clock: NewManualClock(epoch)}
			h.opts = Options{Clock: h.clock}
			if kind == FileStorage {
				h.dir = t.TempDir()
			}
			h.open()
			t.Cleanup(func() { h.st.Close() })
			fn(t, h)
		})
	}
}

func (h *harness) open() {
	h.t.Helper()
	st, err := Open(h.dir, h.opts)
	if err != nil {
		h.t.Fatalf("Open: %v", err)
	}
	h.st = st
}

// reopen closes and reopens the store; memory streams are gone after it,
// so callers use it for file storage only.
func (h *harness) reopen() {
	h.t.Helper()
	if err := h.st.Close(); err != nil {
		h.t.Fatalf("Close: %v", err)
	}
	h.open()
}

func (h *harness) create(cfg Config) Stream {
	h.t.Helper()
	if cfg.Name == "" {
		cfg.Name = "KV_test"
	}
	cfg.Storage = h.kind
	s, err := h.st.CreateStream(cfg, []byte(`{"meta":1}`))
	if err != nil {
		h.t.Fatalf("CreateStream: %v", err)
	}
	return s
}

func mustAppend(t *testing.T, s Stream, subject, data string, opts AppendOpts) AppendResult {
	t.Helper()
	r, err := s.Append(subject, nil, []byte(data), opts)
	if err != nil {
		t.Fatalf("Append(%s): %v", subject, err)
	}
	return r
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}

func TestAppendGet(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := h.create(Config{})
		hdr := []byte("NATS/1.0\r\nA: b\r\n\r\n")
		r, err := s.Append("$KV.b.k1", hdr, []byte("v1"), AppendOpts{})
		if err != nil || r.Seq != 1 || r.Time != epoch.UnixNano() {
			t.Fatalf("append = %+v, %v", r, err)
		}
		mustAppend(t, s, "$KV.b.k2", "v2", AppendOpts{})
		m, err := s.Get(1)
		if err != nil || m.Subject != "$KV.b.k1" || string(m.Data) != "v1" || string(m.Header) != string(hdr) || m.Seq != 1 {
			t.Fatalf("Get(1) = %+v, %v", m, err)
		}
		if m, err := s.Get(2); err != nil || m.Header != nil || string(m.Data) != "v2" {
			t.Fatalf("Get(2) = %+v, %v", m, err)
		}
		for _, seq := range []uint64{0, 3, 1 << 60} {
			_, err := s.Get(seq)
			wantErr(t, err, ErrNotFound)
		}
		if m, err := s.GetLast("$KV.b.k1"); err != nil || m.Seq != 1 {
			t.Fatalf("GetLast = %+v, %v", m, err)
		}
		_, err = s.GetLast("$KV.b.none")
		wantErr(t, err, ErrNotFound)
		_, err = s.GetLast("$KV.b.*")
		wantErr(t, err, ErrInvalidSubject)
		st := s.State()
		want := State{Msgs: 2, FirstSeq: 1, LastSeq: 2, FirstTime: epoch.UnixNano(), LastTime: epoch.UnixNano(), NumSubjects: 2}
		st.Bytes = 0
		if st != want {
			t.Fatalf("State = %+v, want %+v", st, want)
		}
	})
}

func TestBytesAccounting(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := h.create(Config{})
		hdr := []byte("NATS/1.0\r\nA: b\r\n\r\n")
		mustAppend(t, s, "a.b", "12345", AppendOpts{})
		if _, err := s.Append("a.c", hdr, []byte("xy"), AppendOpts{}); err != nil {
			t.Fatal(err)
		}
		var want uint64
		if h.kind == FileStorage {
			want = (22 + 3 + 5 + 8) + (22 + 3 + 4 + uint64(len(hdr)) + 2 + 8)
		} else {
			want = (3 + 5 + 16) + (3 + uint64(len(hdr)) + 2 + 16)
		}
		if got := s.State().Bytes; got != want {
			t.Fatalf("Bytes = %d, want %d", got, want)
		}
	})
}

func TestInvalidSubjects(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := h.create(Config{})
		for _, subj := range []string{"", "a..b", ".a", "a.", "a.*", "a.>", "*", ">", "a b", "a\tb"} {
			_, err := s.Append(subj, nil, nil, AppendOpts{})
			wantErr(t, err, ErrInvalidSubject)
		}
		for _, f := range []string{"a..b", "a.>.b", " "} {
			_, err := s.GetNext(f, 0)
			wantErr(t, err, ErrInvalidSubject)
			wantErr(t, s.LastPerSubject(f, func(*Msg) bool { return true }), ErrInvalidSubject)
			_, err = s.Purge(PurgeOpts{Subject: f})
			wantErr(t, err, ErrInvalidSubject)
		}
		if st := s.State(); st.Msgs != 0 || st.LastSeq != 0 || st.FirstSeq != 0 {
			t.Fatalf("state after rejects: %+v", st)
		}
	})
}

func TestExpectations(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := h.create(Config{Name: "S"})
		_, err := s.Append("a", nil, nil, AppendOpts{ExpectedStream: "T"})
		wantErr(t, err, ErrWrongStream)
		mustAppend(t, s, "a", "1", AppendOpts{ExpectedStream: "S", HasExpectedLastSeq: true, ExpectedLastSeq: 0})
		_, err = s.Append("a", nil, nil, AppendOpts{HasExpectedLastSeq: true, ExpectedLastSeq: 0})
		var wse *WrongSequenceError
		if !errors.As(err, &wse) || wse.Last != 1 || !errors.Is(err, ErrWrongLastSequence) {
			t.Fatalf("err = %v", err)
		}
		// Subject expectations: 0 means no live message.
		mustAppend(t, s, "b", "1", AppendOpts{HasExpectedLastSubjSeq: true})
		_, err = s.Append("b", nil, nil, AppendOpts{HasExpectedLastSubjSeq: true})
		if !errors.As(err, &wse) || wse.Last != 2 || !errors.Is(err, ErrWrongLastSubjectSequence) {
			t.Fatalf("err = %v", err)
		}
		if err.Error() != "store: wrong last subject sequence: 2" {
			t.Fatalf("text %q", err)
		}
		mustAppend(t, s, "b", "2", AppendOpts{HasExpectedLastSubjSeq: true, ExpectedLastSubjSeq: 2})
		// Purge-aware: after purging b, 0 is right again.
		if n, err := s.Purge(PurgeOpts{Subject: "b"}); err != nil || n != 2 {
			t.Fatalf("purge = %d, %v", n, err)
		}
		mustAppend(t, s, "b", "3", AppendOpts{HasExpectedLastSubjSeq: true, ExpectedLastSubjSeq: 0})
		// Override subject, with a wildcard.
		mustAppend(t, s, "c.x", "1", AppendOpts{})
		_, err = s.Append("c.y", nil, nil, AppendOpts{HasExpectedLastSubjSeq: true, ExpectedLastSubjSeqSubject: "c.*"})
		if !errors.As(err, &wse) || wse.Last != 5 {
			t.Fatalf("err = %v", err)
		}
		mustAppend(t, s, "c.y", "1", AppendOpts{HasExpectedLastSubjSeq: true, ExpectedLastSubjSeq: 5, ExpectedLastSubjSeqSubject: "c.*"})
		// Order: the subject check wins over the stream check.
		_, err = s.Append("d", nil, nil, AppendOpts{HasExpectedLastSeq: true, HasExpectedLastSubjSeq: true, ExpectedLastSubjSeq: 9})
		wantErr(t, err, ErrWrongLastSubjectSequence)
	})
}

func TestDedup(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := h.create(Config{DuplicateWindow: time.Minute})
		r1 := mustAppend(t, s, "a", "1", AppendOpts{MsgID: "x"})
		h.clock.Advance(30 * time.Second)
		r2 := mustAppend(t, s, "a", "2", AppendOpts{MsgID: "x"})
		if !r2.Duplicate || r2.Seq != r1.Seq || s.State().Msgs != 1 {
			t.Fatalf("dup = %+v", r2)
		}
		if h.kind == FileStorage {
			h.reopen()
			s, _ = h.st.Stream("KV_test")
			if r := mustAppend(t, s, "a", "2", AppendOpts{MsgID: "x"}); !r.Duplicate {
				t.Fatalf("dedup lost on reopen: %+v", r)
			}
		}
		h.clock.Advance(31 * time.Second)
		if r := mustAppend(t, s, "a", "3", AppendOpts{MsgID: "x"}); r.Duplicate || r.Seq != 2 {
			t.Fatalf("after window = %+v", r)
		}
	})
}

func TestRollup(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := h.create(Config{})
		for i := 0; i < 3; i++ {
			mustAppend(t, s, "a", "x", AppendOpts{})
			mustAppend(t, s, "b", "x", AppendOpts{})
		}
		r := mustAppend(t, s, "a", "roll", AppendOpts{Rollup: RollupSubject})
		if got := s.SubjectsState(""); got["a"] != 1 || got["b"] != 3 {
			t.Fatalf("subjects = %v", got)
		}
		if m, _ := s.GetLast("a"); m.Seq != r.Seq {
			t.Fatalf("last a = %d", m.Seq)
		}
		r = mustAppend(t, s, "c", "all", AppendOpts{Rollup: RollupAll})
		st := s.State()
		if st.Msgs != 1 || st.FirstSeq != r.Seq || st.NumSubjects != 1 {
			t.Fatalf("after rollup all: %+v", st)
		}
	})
}

func TestPerSubjectLimit(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := h.create(Config{MaxMsgsPerSubject: 2})
		for i := 1; i <= 5; i++ {
			mustAppend(t, s, "k", fmt.Sprint(i), AppendOpts{})
		}
		mustAppend(t, s, "j", "1", AppendOpts{})
		if st := s.State(); st.Msgs != 3 || st.FirstSeq != 4 || st.NumDeleted != 0 {
			t.Fatalf("state %+v", st)
		}
		// Lowering the limit applies at once.
		cfg := s.Config()
		cfg.MaxMsgsPerSubject = 1
		if err := s.UpdateConfig(cfg, []byte("m2")); err != nil {
			t.Fatal(err)
		}
		if st := s.State(); st.Msgs != 2 || st.FirstSeq != 5 || string(s.Meta()) != "m2" {
			t.Fatalf("state %+v", st)
		}
		// Discard new per subject.
		s2 := h.create(Config{Name: "S2", MaxMsgsPerSubject: 1, Discard: DiscardNew, DiscardNewPerSubject: true})
		mustAppend(t, s2, "k", "1", AppendOpts{})
		_, err := s2.Append("k", nil, nil, AppendOpts{})
		wantErr(t, err, ErrMaxMsgsPerSubject)
		mustAppend(t, s2, "k", "2", AppendOpts{Rollup: RollupSubject})
	})
}

func TestMsgAndByteLimits(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		old := h.create(Config{Name: "OLD", MaxMsgs: 3})
		for i := 0; i < 5; i++ {
			mustAppend(t, old, "a", "x", AppendOpts{})
		}
		if st := old.State(); st.Msgs != 3 || st.FirstSeq != 3 {
			t.Fatalf("old: %+v", st)
		}
		nw := h.create(Config{Name: "NEW", MaxMsgs: 2, Discard: DiscardNew})
		mustAppend(t, nw, "a", "x", AppendOpts{})
		mustAppend(t, nw, "b", "x", AppendOpts{})
		_, err := nw.Append("c", nil, nil, AppendOpts{})
		wantErr(t, err, ErrMaxMsgs)
		one := nw.(*stream).msgSize("a", nil, []byte("x"))
		nb := h.create(Config{Name: "NB", MaxBytes: int64(2 * one), Discard: DiscardNew})
		mustAppend(t, nb, "a", "x", AppendOpts{})
		mustAppend(t, nb, "b", "x", AppendOpts{})
		_, err = nb.Append("c", nil, []byte("x"), AppendOpts{})
		wantErr(t, err, ErrMaxBytes)
		ob := h.create(Config{Name: "OB", MaxBytes: int64(2 * one)})
		for i := 0; i < 4; i++ {
			mustAppend(t, ob, "a", "x", AppendOpts{})
		}
		if st := ob.State(); st.Msgs != 2 || st.Bytes != 2*one {
			t.Fatalf("ob: %+v", st)
		}
		ms := h.create(Config{Name: "MS", MaxMsgSize: 4})
		_, err = ms.Append("a", nil, []byte("12345"), AppendOpts{})
		wantErr(t, err, ErrMaxMsgSize)
		mustAppend(t, ms, "a", "1234", AppendOpts{})
	})
}

func TestDeleteAndPurge(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := h.create(Config{})
		for i := 1; i <= 10; i++ {
			mustAppend(t, s, fmt.Sprintf("k.%d", i%3), fmt.Sprint(i), AppendOpts{})
		}
		wantErr(t, s.Delete(11), ErrNotFound)
		if err := s.Delete(5); err != nil {
			t.Fatal(err)
		}
		wantErr(t, s.Delete(5), ErrNotFound)
		if st := s.State(); st.Msgs != 9 || st.NumDeleted != 1 {
			t.Fatalf("%+v", st)
		}
		n, err := s.Purge(PurgeOpts{Subject: "k.1", Keep: 1}) // 1,4,7,10 -> keep 10
		if err != nil || n != 3 {
			t.Fatalf("purge keep = %d, %v", n, err)
		}
		n, _ = s.Purge(PurgeOpts{Seq: 4}) // removes 2,3
		if n != 2 || s.State().FirstSeq != 6 {
			t.Fatalf("purge seq = %d, %+v", n, s.State())
		}
		n, _ = s.Purge(PurgeOpts{Keep: 2})
		if st := s.State(); n != 2 || st.Msgs != 2 || st.FirstSeq != 9 {
			t.Fatalf("purge keep all = %d %+v", n, st)
		}
		n, _ = s.Purge(PurgeOpts{})
		if st := s.State(); n != 2 || st.Msgs != 0 || st.FirstSeq != 11 || st.LastSeq != 10 {
			t.Fatalf("purge all = %d %+v", n, st)
		}
		if r := mustAppend(t, s, "k.1", "x", AppendOpts{}); r.Seq != 11 {
			t.Fatalf("seq after purge %d", r.Seq)
		}
		// Compact beyond the end moves the sequence forward.
		s.Purge(PurgeOpts{Seq: 100})
		if st := s.State(); st.FirstSeq != 100 || st.LastSeq != 99 {
			t.Fatalf("compact = %+v", st)
		}
		if h.kind == FileStorage {
			h.reopen()
			s, _ = h.st.Stream("KV_test")
			if st := s.State(); st.FirstSeq != 100 || st.LastSeq != 99 || st.Msgs != 0 {
				t.Fatalf("after reopen = %+v", st)
			}
		}
		if r := mustAppend(t, s, "k.1", "x", AppendOpts{}); r.Seq != 100 {
			t.Fatalf("seq after compact %d", r.Seq)
		}
	})
}

func TestDeleteLastKeepsSequence(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := h.create(Config{})
		mustAppend(t, s, "a", "1", AppendOpts{})
		mustAppend(t, s, "a", "2", AppendOpts{})
		if err := s.Delete(2); err != nil {
			t.Fatal(err)
		}
		if h.kind == FileStorage {
			h.reopen()
			s, _ = h.st.Stream("KV_test")
		}
		if st := s.State(); st.LastSeq != 2 || st.Msgs != 1 {
			t.Fatalf("%+v", st)
		}
		if r := mustAppend(t, s, "a", "3", AppendOpts{}); r.Seq != 3 {
			t.Fatalf("seq %d", r.Seq)
		}
	})
}

func TestGetNextAndPending(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := h.create(Config{})
		subjects := []string{"a.x", "b.x", "a.y", "a.x", "b.y"}
		for _, subj := range subjects {
			mustAppend(t, s, subj, subj, AppendOpts{})
		}
		cases := []struct {
			filter string
			start  uint64
			want   uint64
		}{{"", 0, 1}, {">", 2, 2}, {"a.*", 2, 3}, {"a.x", 2, 4}, {"*.y", 4, 5}, {"b.>", 3, 5}, {"c", 0, 0}, {"a.x", 5, 0}}
		for _, c := range cases {
			m, err := s.GetNext(c.filter, c.start)
			if c.want == 0 {
				wantErr(t, err, ErrNotFound)
				continue
			}
			if err != nil || m.Seq != c.want {
				t.Fatalf("GetNext(%q,%d) = %v, %v; want %d", c.filter, c.start, m, err, c.want)
			}
		}
		if n := s.NumPending("a.*", 1, false); n != 3 {
			t.Fatalf("pending a.* = %d", n)
		}
		if n := s.NumPending("a.*", 1, true); n != 2 {
			t.Fatalf("pending lps a.* = %d", n)
		}
		if n := s.NumPending("", 3, false); n != 3 {
			t.Fatalf("pending all from 3 = %d", n)
		}
		if n := s.NumPending("a.x", 0, true); n != 1 {
			t.Fatalf("pending lps a.x = %d", n)
		}
		var got []uint64
		s.LastPerSubject("", func(m *Msg) bool { got = append(got, m.Seq); return true })
		if !slices.Equal(got, []uint64{2, 3, 4, 5}) {
			t.Fatalf("LastPerSubject = %v", got)
		}
		got = nil
		s.LastPerSubject("a.*", func(m *Msg) bool { got = append(got, m.Seq); return len(got) < 1 })
		if !slices.Equal(got, []uint64{3}) {
			t.Fatalf("LastPerSubject stop = %v", got)
		}
		if ss := s.SubjectsState("a.>"); len(ss) != 2 || ss["a.x"] != 2 {
			t.Fatalf("SubjectsState = %v", ss)
		}
	})
}

func TestStreamsLifecycle(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		a := h.create(Config{Name: "A"})
		h.create(Config{Name: "B"})
		_, err := h.st.CreateStream(Config{Name: "A", Storage: h.kind}, nil)
		wantErr(t, err, ErrStreamExists)
		mustAppend(t, a, "x", "1", AppendOpts{})
		if names := streamNames(h.st); !slices.Equal(names, []string{"A", "B"}) {
			t.Fatalf("streams %v", names)
		}
		if err := h.st.DeleteStream("A"); err != nil {
			t.Fatal(err)
		}
		wantErr(t, h.st.DeleteStream("A"), ErrStreamNotFound)
		_, err = h.st.Stream("A")
		wantErr(t, err, ErrStreamNotFound)
		_, err = a.Append("x", nil, nil, AppendOpts{})
		wantErr(t, err, ErrClosed)
		a = h.create(Config{Name: "A"})
		if st := a.State(); st.Msgs != 0 || st.LastSeq != 0 {
			t.Fatalf("recreated stream not empty: %+v", st)
		}
		if h.kind == FileStorage {
			mustAppend(t, a, "y", "1", AppendOpts{})
			h.reopen()
			if names := streamNames(h.st); !slices.Equal(names, []string{"A", "B"}) {
				t.Fatalf("streams after reopen %v", names)
			}
			a, _ = h.st.Stream("A")
			if st := a.State(); st.Msgs != 1 || string(a.Meta()) != `{"meta":1}` {
				t.Fatalf("A after reopen: %+v", st)
			}
		}
	})
}

func streamNames(st *Store) []string {
	var out []string
	for _, s := range st.Streams() {
		out = append(out, s.Name())
	}
	return out
}

func TestSubscribeOrder(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := h.create(Config{})
		var got []uint64
		cancel := s.Subscribe(func(m *Msg) { got = append(got, m.Seq) })
		mustAppend(t, s, "a", "1", AppendOpts{})
		mustAppend(t, s, "b", "1", AppendOpts{})
		cancel()
		mustAppend(t, s, "c", "1", AppendOpts{})
		if !slices.Equal(got, []uint64{1, 2}) {
			t.Fatalf("got %v", got)
		}
	})
}
