package store

import (
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"testing"
	"time"
)

func batchOf(subjects ...string) []BatchMsg {
	msgs := make([]BatchMsg, len(subjects))
	for i, s := range subjects {
		msgs[i] = BatchMsg{Subject: s, Data: []byte(fmt.Sprintf("v%d", i+1))}
	}
	return msgs
}

func appendBatch(t *testing.T, s Stream, msgs []BatchMsg) (BatchResult, error) {
	t.Helper()
	return s.(BatchAppender).AppendBatch(msgs)
}

func TestAppendBatchCommitsAll(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := h.create(Config{Subjects: []string{"$KV.test.>"}, MaxMsgsPerSubject: 1})
		mustAppend(t, s, "$KV.test.a", "old", AppendOpts{})
		var seen []uint64
		var mu sync.Mutex
		cancel := s.Subscribe(func(m *Msg) { mu.Lock(); seen = append(seen, m.Seq); mu.Unlock() })
		defer cancel()
		// b written twice under history 1: only the second stays.
		res, err := appendBatch(t, s, batchOf("$KV.test.a", "$KV.test.b", "$KV.test.b", "$KV.test.c"))
		if err != nil {
			t.Fatal(err)
		}
		if res.First != 2 || res.Last != 5 {
			t.Fatalf("result %+v, want 2..5", res)
		}
		st := s.State()
		if st.Msgs != 3 || st.LastSeq != 5 || st.FirstSeq != 2 {
			t.Fatalf("state %+v", st)
		}
		if _, err := s.Get(3); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get(3) = %v, want not found (replaced within the batch)", err)
		}
		for seq, want := range map[uint64]string{2: "v1", 4: "v3", 5: "v4"} {
			m, err := s.Get(seq)
			if err != nil || string(m.Data) != want {
				t.Fatalf("Get(%d) = %v, %v, want %s", seq, m, err, want)
			}
		}
		mu.Lock()
		if fmt.Sprint(seen) != "[2 4 5]" {
			t.Fatalf("subscriber saw %v", seen)
		}
		mu.Unlock()
		if h.kind == FileStorage {
			h.reopen()
			s, _ = h.st.Stream("KV_test")
			if st2 := s.State(); st2 != st {
				t.Fatalf("after reopen %+v, want %+v", st2, st)
			}
			if _, err := s.Get(3); !errors.Is(err, ErrNotFound) {
				t.Fatalf("after reopen Get(3) = %v", err)
			}
		}
	})
}

func TestAppendBatchRefusals(t *testing.T) {
	refuse := errors.New("refused by caller")
	cases := []struct {
		name  string
		msgs  func() []BatchMsg
		index int
		want  error
		last  uint64 // WrongSequenceError.Last
	}{
		{"expected last seq wrong", func() []BatchMsg {
			m := batchOf("s.a", "s.b")
			m[0].HasExpectedLastSeq, m[0].ExpectedLastSeq = true, 7
			return m
		}, 0, ErrWrongLastSequence, 2},
		{"expected last seq on second", func() []BatchMsg {
			m := batchOf("s.a", "s.b")
			m[1].HasExpectedLastSeq, m[1].ExpectedLastSeq = true, 3
			return m
		}, 1, ErrBatchExpectation, 0},
		{"expected last seq on second, other value", func() []BatchMsg {
			m := batchOf("s.a", "s.b")
			m[1].HasExpectedLastSeq, m[1].ExpectedLastSeq = true, 2
			return m
		}, 1, ErrWrongLastSequence, 3},
		{"subject seq wrong", func() []BatchMsg {
			m := batchOf("s.x", "s.a")
			m[1].HasExpectedLastSubjSeq, m[1].ExpectedLastSubjSeq = true, 5
			return m
		}, 1, ErrWrongLastSubjectSequence, 1},
		{"subject written earlier", func() []BatchMsg {
			m := batchOf("s.a", "s.a")
			m[1].HasExpectedLastSubjSeq, m[1].ExpectedLastSubjSeq = true, 1
			return m
		}, 1, ErrBatchExpectation, 0},
		{"duplicate id in batch", func() []BatchMsg {
			m := batchOf("s.a", "s.b")
			m[0].MsgID, m[1].MsgID = "x", "x"
			return m
		}, 1, ErrBatchDuplicateMsgID, 0},
		{"duplicate id stored", func() []BatchMsg {
			m := batchOf("s.a")
			m[0].MsgID = "id1"
			return m
		}, 0, ErrBatchDuplicateMsgID, 0},
		{"rollup all later", func() []BatchMsg {
			m := batchOf("s.a", "s.b")
			m[1].Rollup = RollupAll
			return m
		}, 1, ErrBatchRollupAll, 0},
		{"rollup sub after write", func() []BatchMsg {
			m := batchOf("s.a", "s.a")
			m[1].Rollup = RollupSubject
			return m
		}, 1, ErrBatchRollupSubject, 0},
		{"caller refusal", func() []BatchMsg {
			m := batchOf("s.a", "s.b", "s.c")
			m[2].RefuseLate = refuse
			return m
		}, 2, refuse, 0},
		{"max msgs discard new", func() []BatchMsg { return batchOf("s.a", "s.b", "s.c", "s.d") }, 3, ErrMaxMsgs, 0},
		{"ttl disabled", func() []BatchMsg {
			m := batchOf("s.a")
			m[0].TTL = time.Minute
			return m
		}, 0, ErrMsgTTLDisabled, 0},
	}
	forEachStorage(t, func(t *testing.T, h *harness) {
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				s := h.create(Config{Name: fmt.Sprintf("S%d", i), Subjects: []string{"s.>"}, Discard: DiscardNew,
					MaxMsgs: 5, DuplicateWindow: time.Minute})
				mustAppend(t, s, "s.a", "first", AppendOpts{MsgID: "id1"})
				mustAppend(t, s, "s.b", "second", AppendOpts{})
				before := s.State()
				_, err := appendBatch(t, s, c.msgs())
				var be *BatchError
				if !errors.As(err, &be) || be.Index != c.index || !errors.Is(err, c.want) {
					t.Fatalf("err = %v, want %v at message %d", err, c.want, c.index+1)
				}
				var wrong *WrongSequenceError
				if errors.As(err, &wrong) && wrong.Last != c.last {
					t.Fatalf("last = %d, want %d", wrong.Last, c.last)
				}
				if after := s.State(); after != before {
					t.Fatalf("state changed by a refused batch: %+v -> %+v", before, after)
				}
			})
		}
	})
}

// TestAppendBatchReadersSeeAllOrNothing runs batches of 10 against
// readers that count a subject's messages: they see a multiple of 10.
func TestAppendBatchReadersSeeAllOrNothing(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := h.create(Config{Subjects: []string{"b.>"}})
		done := make(chan struct{})
		var wg sync.WaitGroup
		errc := make(chan error, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if n := s.State().Msgs; n%10 != 0 {
					select {
					case errc <- fmt.Errorf("reader saw %d messages", n):
					default:
					}
					return
				}
			}
		}()
		for i := 0; i < 200; i++ {
			msgs := make([]BatchMsg, 10)
			for j := range msgs {
				msgs[j] = BatchMsg{Subject: fmt.Sprintf("b.%d", j), Data: []byte("x")}
			}
			if _, err := appendBatch(t, s, msgs); err != nil {
				t.Fatal(err)
			}
		}
		close(done)
		wg.Wait()
		select {
		case err := <-errc:
			t.Fatal(err)
		default:
		}
	})
}

// TestAppendBatchMatchesAppends applies random batches to one stream
// and the same messages one by one to another: with the batch checks
// passing, both end the same (history limits, rollups, discard-old
// limits applied message by message). The seed is logged.
func TestAppendBatchMatchesAppends(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	forEachStorage(t, func(t *testing.T, h *harness) {
		rng := rand.New(rand.NewSource(seed))
		cfg := Config{Subjects: []string{"m.>"}, MaxMsgsPerSubject: int64(1 + rng.Intn(3)), MaxMsgs: int64(20 + rng.Intn(20))}
		cfg.Name = "BATCH"
		batched := h.create(cfg)
		cfg.Name = "SINGLE"
		single := h.create(cfg)
		for round := 0; round < 200; round++ {
			n := 1 + rng.Intn(8)
			msgs := make([]BatchMsg, n)
			for i := range msgs {
				msgs[i] = BatchMsg{Subject: fmt.Sprintf("m.%d", rng.Intn(6)), Data: []byte(fmt.Sprint(round, i))}
				if i == 0 && rng.Intn(20) == 0 {
					msgs[i].Rollup = RollupAll
				}
			}
			if _, err := appendBatch(t, batched, msgs); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			for _, m := range msgs {
				if _, err := single.Append(m.Subject, nil, m.Data, AppendOpts{Rollup: m.Rollup}); err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
			}
			b, s := batched.State(), single.State()
			if b != s {
				t.Fatalf("round %d: batched %+v, single %+v", round, b, s)
			}
		}
		st := batched.State()
		for seq := st.FirstSeq; seq <= st.LastSeq; seq++ {
			mb, errB := batched.Get(seq)
			ms, errS := single.Get(seq)
			if (errB == nil) != (errS == nil) || (errB == nil && (mb.Subject != ms.Subject || string(mb.Data) != string(ms.Data))) {
				t.Fatalf("seq %d: batched %v %v, single %v %v", seq, mb, errB, ms, errS)
			}
		}
	})
}

// tickingClock moves a microsecond every time it is read.
type tickingClock struct{ *ManualClock }

func (c tickingClock) Now() time.Time {
	now := c.ManualClock.Now()
	c.Advance(time.Microsecond)
	return now
}

// TestAppendBatchStampsEachMessage: every message of a batch gets the
// time it was stored at, as nats-server stamps them, not one time for
// all.
func TestAppendBatchStampsEachMessage(t *testing.T) {
	clock := tickingClock{NewManualClock(time.Unix(1_700_000_000, 0))}
	st, err := Open("", Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := st.CreateStream(Config{Name: "KV_t", Subjects: []string{"$KV.t.>"}, Storage: MemoryStorage}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := appendBatch(t, s, batchOf("$KV.t.a", "$KV.t.b", "$KV.t.c"))
	if err != nil {
		t.Fatal(err)
	}
	var prev int64
	for seq := res.First; seq <= res.Last; seq++ {
		m, err := s.Get(seq)
		if err != nil {
			t.Fatal(err)
		}
		if m.Time <= prev {
			t.Fatalf("message %d stamped %d, not after the one before (%d)", seq, m.Time, prev)
		}
		prev = m.Time
	}
	if res.Time != prev {
		t.Fatalf("result time %d, want the last message's %d", res.Time, prev)
	}
}
