package store

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestMaxAge(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := h.create(Config{MaxAge: time.Minute, AllowMsgTTL: true})
		mustAppend(t, s, "a", "1", AppendOpts{})
		mustAppend(t, s, "keep", "forever", AppendOpts{TTL: -1})
		h.clock.Advance(30 * time.Second)
		mustAppend(t, s, "b", "1", AppendOpts{})
		h.clock.Advance(31 * time.Second)
		waitFor(t, "a to expire", func() bool { return s.State().Msgs == 2 })
		if _, err := s.GetLast("a"); err == nil {
			t.Fatal("a still there")
		}
		h.clock.Advance(30 * time.Second)
		waitFor(t, "b to expire", func() bool { return s.State().Msgs == 1 })
		if m, err := s.GetLast("keep"); err != nil || m.Seq != 2 {
			t.Fatalf("never-expire message: %v, %v", m, err)
		}
	})
}

func TestTTLAndMarkers(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := h.create(Config{AllowMsgTTL: true, SubjectDeleteMarkerTTL: 10 * time.Second, MaxAge: time.Hour})
		var mu sync.Mutex
		var seen []string
		defer s.Subscribe(func(m *Msg) {
			mu.Lock()
			seen = append(seen, m.Subject+"|"+string(m.Header))
			mu.Unlock()
		})()
		mustAppend(t, s, "k1", "v", AppendOpts{TTL: 5 * time.Second})
		mustAppend(t, s, "k2", "v", AppendOpts{TTL: 5 * time.Second})
		mustAppend(t, s, "k2", "v", AppendOpts{}) // k2 keeps a value
		h.clock.Advance(6 * time.Second)
		waitFor(t, "k1 marker", func() bool { return s.State().LastSeq == 4 })
		m, err := s.GetLast("k1")
		wantHdr := "NATS/1.0\r\nNats-Marker-Reason: MaxAge\r\nNats-TTL: 10s\r\n\r\n"
		if err != nil || m.Seq != 4 || string(m.Header) != wantHdr || len(m.Data) != 0 {
			t.Fatalf("marker = %+v, %v", m, err)
		}
		if ss := s.SubjectsState(""); ss["k2"] != 1 || ss["k1"] != 1 {
			t.Fatalf("subjects %v", ss)
		}
		// The marker expires without a marker of its own.
		h.clock.Advance(11 * time.Second)
		waitFor(t, "marker to expire", func() bool { return s.State().Msgs == 1 })
		if st := s.State(); st.LastSeq != 4 {
			t.Fatalf("state %+v", st)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != 4 || seen[3] != "k1|"+wantHdr {
			t.Fatalf("subscriber saw %q", seen)
		}
	})
}

func TestTTLDisabled(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := h.create(Config{})
		_, err := s.Append("a", nil, nil, AppendOpts{TTL: time.Second})
		wantErr(t, err, ErrMsgTTLDisabled)
	})
}

func TestMaxAgeMarkerAndUpdate(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := h.create(Config{AllowMsgTTL: true, SubjectDeleteMarkerTTL: time.Minute})
		mustAppend(t, s, "a", "1", AppendOpts{})
		mustAppend(t, s, "a", "2", AppendOpts{})
		mustAppend(t, s, "p", "", AppendOpts{}) // replaced below by a KV purge marker
		if _, err := s.Append("p", []byte("NATS/1.0\r\nKV-Operation: PURGE\r\n\r\n"), nil, AppendOpts{Rollup: RollupSubject}); err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(time.Hour)
		cfg := s.Config()
		cfg.MaxAge = time.Minute
		if err := s.UpdateConfig(cfg, nil); err != nil {
			t.Fatal(err)
		}
		// Both a's go, one marker for a; the purge marker goes without one.
		waitFor(t, "expiry", func() bool { return s.State().LastSeq == 5 })
		var subjects []string
		s.LastPerSubject("", func(m *Msg) bool { subjects = append(subjects, m.Subject); return true })
		if !slices.Equal(subjects, []string{"a"}) || s.State().Msgs != 1 {
			t.Fatalf("left %v, %+v", subjects, s.State())
		}
	})
}

func TestExpiryAfterReopen(t *testing.T) {
	h := &harness{t: t, kind: FileStorage, clock: NewManualClock(epoch), dir: t.TempDir()}
	h.opts = Options{Clock: h.clock}
	h.open()
	defer func() { h.st.Close() }()
	s := h.create(Config{AllowMsgTTL: true})
	mustAppend(t, s, "a", "1", AppendOpts{TTL: time.Minute})
	mustAppend(t, s, "b", "1", AppendOpts{})
	h.reopen()
	s, _ = h.st.Stream("KV_test")
	h.clock.Advance(2 * time.Minute)
	waitFor(t, "ttl after reopen", func() bool { return s.State().Msgs == 1 })
}

// jumpClock moves its manual clock by jump at the first armed call of
// At for a deadline (not an idle pass's), before setting the timer: the clock moving while the expirer sets
// its timer, as a manual clock or a slow machine can make it.
type jumpClock struct {
	*ManualClock
	jump  time.Duration
	armed chan struct{} // closed to arm; the jump happens once
	done  chan struct{} // closed after the jump
	once  sync.Once
}

func (c *jumpClock) At(deadline time.Time) (<-chan time.Time, func()) {
	select {
	case <-c.armed:
		if !deadline.Before(c.Now().Add(maxExpirySleep)) {
			// An idle pass (the stream's creation wakes one, which may
			// run once armed): the jump is for the append's.
			break
		}
		c.once.Do(func() {
			c.Advance(c.jump)
			close(c.done)
		})
	default:
	}
	return c.ManualClock.At(deadline)
}

// TestExpiryTimerSetWhileClockMoves: a clock that moves while the
// expirer sets its timer must not delay expiry. The expirer once turned
// the deadline into a duration from a reading of the clock taken before
// the timer was set, so a jump in between pushed the wake-up later by the
// jump (TestMaxAge timed out once on a loaded machine).
func TestExpiryTimerSetWhileClockMoves(t *testing.T) {
	jc := &jumpClock{ManualClock: NewManualClock(epoch), jump: 30 * time.Second, armed: make(chan struct{}), done: make(chan struct{})}
	st, err := Open("", Options{Clock: jc})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := st.CreateStream(Config{Name: "s", Storage: MemoryStorage, MaxAge: time.Minute}, nil)
	if err != nil {
		t.Fatal(err)
	}
	close(jc.armed) // the pass woken by the append jumps 30 s while setting its timer
	mustAppend(t, s, "a", "1", AppendOpts{})
	select {
	case <-jc.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the expirer never set a timer after the append")
	}
	jc.Advance(31 * time.Second) // 61 s after the append
	waitFor(t, "a to expire", func() bool { return s.State().Msgs == 0 })
}
