package store

import (
	"math"
	"strconv"
	"testing"
	"time"
)

// Tests of issue 9's storage classes: expiry arithmetic that cannot
// overflow, memory that follows live data, bounded work per request.

func TestSaturatingDeadlines(t *testing.T) {
	cases := []struct{ t, d, want int64 }{
		{1, 2, 3},
		{math.MaxInt64 - 1, 5, never},
		{1 << 62, math.MaxInt64, never},
		{-5, math.MinInt64, math.MinInt64},
		{0, math.MinInt64, math.MinInt64},
	}
	for _, c := range cases {
		if got := addSat(c.t, c.d); got != c.want {
			t.Errorf("addSat(%d, %d) = %d, want %d", c.t, c.d, got, c.want)
		}
	}
	if got := subSat(1<<62, math.MinInt64); got != never {
		t.Errorf("subSat(2^62, MinInt64) = %d", got)
	}
	if got := subSat(-10, math.MaxInt64); got != math.MinInt64 {
		t.Errorf("subSat(-10, MaxInt64) = %d", got)
	}
	if got := wakeAt(100, never); got != 100+int64(maxExpirySleep) {
		t.Errorf("wakeAt(never) = %v", got)
	}
	if got := wakeAt(math.MaxInt64, math.MinInt64); got != math.MinInt64 {
		t.Errorf("wakeAt(past) = %v", got)
	}
}

// TestHugeDurationsKeepExpiry: a stream with MaxAge MaxInt64, a message
// with a TTL of MaxInt64 and a marker TTL of MaxInt64 must neither expire
// anything early nor stop the expiry of another stream (before the fix
// the deadline wrapped and the expirer slept for centuries).
func TestHugeDurationsKeepExpiry(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		huge := h.create(Config{Name: "huge", MaxAge: math.MaxInt64, AllowMsgTTL: true,
			SubjectDeleteMarkerTTL: math.MaxInt64})
		mustAppend(t, huge, "a", "1", AppendOpts{})
		mustAppend(t, huge, "b", "1", AppendOpts{TTL: math.MaxInt64})
		mustAppend(t, huge, "c", "1", AppendOpts{TTL: time.Second})
		kv := h.create(Config{Name: "kv", MaxAge: time.Second})
		mustAppend(t, kv, "k", "v", AppendOpts{})
		h.clock.Advance(2 * time.Second)
		waitFor(t, "kv entry to expire", func() bool { return kv.State().Msgs == 0 })
		// c expired and left a marker whose TTL is never.
		waitFor(t, "c's marker", func() bool { return huge.State().LastSeq == 4 })
		for _, subj := range []string{"a", "b"} {
			if _, err := huge.GetLast(subj); err != nil {
				t.Fatalf("%s expired: %v", subj, err)
			}
		}
		mustAppend(t, kv, "k", "v2", AppendOpts{})
		h.clock.Advance(2 * time.Second)
		waitFor(t, "second kv entry to expire", func() bool { return kv.State().Msgs == 0 })
		if st := huge.State(); st.Msgs != 3 {
			t.Fatalf("huge stream state %+v", st)
		}
	})
}

// TestDedupAppendIsConstant: a sliding duplicate window must not copy
// its id list on every append (it did: one allocation and a copy of the
// whole list per append).
func TestDedupAppendIsConstant(t *testing.T) {
	const window = 10000
	d := newDedupTable()
	ids := make([]string, 4*window)
	for i := range ids {
		ids[i] = strconv.Itoa(i)
	}
	now := int64(0)
	for i := 0; i < window; i++ {
		now++
		d.add(ids[i], uint64(i+1), now)
	}
	i := window
	allocs := testing.AllocsPerRun(2*window, func() {
		now++
		if _, dup := d.lookup(ids[i%len(ids)], now, window); dup {
			t.Fatal("unexpected duplicate")
		}
		d.add(ids[i%len(ids)], uint64(i+1), now)
		i++
	})
	if allocs >= 1 {
		t.Fatalf("%v allocations per append with a sliding window", allocs)
	}
	if n := d.len(); n > window+1 {
		t.Fatalf("%d ids queued for a window of %d", n, window)
	}
	if c := cap(d.order); c > 4*window {
		t.Fatalf("queue capacity %d for a window of %d", c, window)
	}
	// Once the window has passed, a lookup forgets everything.
	d.lookup("x", now+window+1, window)
	if d.len() != 0 || len(d.ids) != 0 || cap(d.order) != 0 {
		t.Fatalf("after the window: %d queued, %d ids, cap %d", d.len(), len(d.ids), cap(d.order))
	}
}

// TestTTLHeapFollowsLiveMessages: overwriting one key many times with a
// TTL leaves one live message; the heap must not keep an item per write.
func TestTTLHeapFollowsLiveMessages(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := h.create(Config{AllowMsgTTL: true, MaxMsgsPerSubject: 1})
		const writes = 20000
		for i := 0; i < writes; i++ {
			mustAppend(t, s, "k", "v", AppendOpts{TTL: time.Hour})
			if i%100 == 0 {
				mustAppend(t, s, "other."+strconv.Itoa(i), "v", AppendOpts{TTL: time.Hour})
			}
		}
		ss := s.(*stream)
		ss.mu.RLock()
		n, dead := ss.ttls.len(), ss.ttls.dead
		ss.mu.RUnlock()
		live := 1 + writes/100
		if n > 2*live+ttlCompactMin || dead > n {
			t.Fatalf("TTL heap holds %d items (%d dead) for %d live messages", n, dead, live)
		}
		h.clock.Advance(2 * time.Hour)
		waitFor(t, "everything to expire", func() bool { return s.State().Msgs == 0 })
		ss.mu.RLock()
		n, dead = ss.ttls.len(), ss.ttls.dead
		ss.mu.RUnlock()
		if n != 0 || dead != 0 {
			t.Fatalf("after expiry the heap holds %d items, %d dead", n, dead)
		}
	})
}
