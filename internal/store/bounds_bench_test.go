package store

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Benchmarks of the request paths that must not do work proportional to
// the stream size (issue 9, "bounded work per request"): a memory stream
// of 1M messages over 100k subjects "$KV.b.g<group>.k<key>" (1000 groups
// of 100 keys), each subject written 10 times, every tenth message of the
// first half deleted. Run with
//
//	go test ./internal/store -run '^$' -bench Bounds -benchtime 2000x

const (
	boundsMsgs     = 1_000_000
	boundsSubjects = 100_000
	boundsGroups   = 1000
)

var boundsData struct {
	once sync.Once
	st   *Store
	s    Stream
	err  error
}

func boundsSubject(i int) string {
	k := i % boundsSubjects
	return "$KV.b.g" + strconv.Itoa(k%boundsGroups) + ".k" + strconv.Itoa(k)
}

// boundsStream builds (once per process) the 1M-message memory stream;
// its timestamps advance by 1µs per message.
func boundsStream(b *testing.B) Stream {
	boundsData.once.Do(func() {
		clock := NewManualClock(epoch)
		st, err := Open("", Options{Clock: clock, manualExpiry: true})
		if err != nil {
			boundsData.err = err
			return
		}
		s, err := st.CreateStream(Config{Name: "bounds", Storage: MemoryStorage}, nil)
		if err != nil {
			boundsData.err = err
			return
		}
		for i := 0; i < boundsMsgs; i++ {
			clock.Advance(time.Microsecond)
			if _, err := s.Append(boundsSubject(i), nil, []byte("v"), AppendOpts{}); err != nil {
				boundsData.err = err
				return
			}
		}
		for seq := uint64(2); seq < boundsMsgs/2; seq += 10 {
			if err := s.Delete(seq); err != nil {
				boundsData.err = err
				return
			}
		}
		boundsData.st, boundsData.s = st, s
	})
	if boundsData.err != nil {
		b.Fatal(boundsData.err)
	}
	return boundsData.s
}

// BenchmarkBoundsGetNext: the next message of a wildcard filter that
// matches nothing, one group (100 subjects), and everything, from the
// middle of the stream.
func BenchmarkBoundsGetNext(b *testing.B) {
	s := boundsStream(b)
	for _, c := range []struct{ name, filter string }{
		{"nomatch", "$KV.b.none.*"}, {"group", "$KV.b.g7.*"}, {"all", "$KV.b.>"},
	} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				s.GetNext(c.filter, boundsMsgs/2)
			}
		})
	}
}

// BenchmarkBoundsLastSeqMatching: an append whose wildcard
// expected-last-subject check fails (so nothing is stored).
func BenchmarkBoundsLastSeqMatching(b *testing.B) {
	s := boundsStream(b)
	for _, filter := range []string{"$KV.b.g7.*", "$KV.b.*.k7"} {
		b.Run(filter, func(b *testing.B) {
			opts := AppendOpts{HasExpectedLastSubjSeq: true, ExpectedLastSubjSeq: 1, ExpectedLastSubjSeqSubject: filter}
			for i := 0; i < b.N; i++ {
				if _, err := s.Append("x", nil, nil, opts); err == nil {
					b.Fatal("append accepted")
				}
			}
		})
	}
}

// BenchmarkBoundsLastMatching: the last message of a wildcard subject
// (direct get last_by_subj), as jsapi finds it through LastPerSubject.
func BenchmarkBoundsLastMatching(b *testing.B) {
	s := boundsStream(b)
	for i := 0; i < b.N; i++ {
		var last *Msg
		s.LastPerSubject("$KV.b.g7.*", func(m *Msg) bool {
			last = m
			return true
		})
		if last == nil {
			b.Fatal("no message")
		}
	}
}

// BenchmarkBoundsStartTime: the first sequence at or after a time in the
// middle of the stream, found the way the consumer does today (walking
// the messages from the first).
func BenchmarkBoundsStartTime(b *testing.B) {
	s := boundsStream(b)
	at := epoch.Add(boundsMsgs / 2 * time.Microsecond).UnixNano()
	for i := 0; i < b.N; i++ {
		seq := uint64(1)
		for {
			m, err := s.GetNext("", seq)
			if err != nil {
				b.Fatal(err)
			}
			if m.Time >= at {
				break
			}
			seq = m.Seq + 1
		}
	}
}

// BenchmarkBoundsDedup: appends with distinct message ids into a sliding
// window holding n ids (the clock advances 1µs per append, the window is
// n µs, so every append forgets one id).
func BenchmarkBoundsDedup(b *testing.B) {
	for _, n := range []int{1000, 100_000} {
		b.Run(fmt.Sprintf("window=%d", n), func(b *testing.B) {
			clock := NewManualClock(epoch)
			st, err := Open("", Options{Clock: clock, manualExpiry: true})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			s, _ := st.CreateStream(Config{Name: "d", Storage: MemoryStorage, DuplicateWindow: time.Duration(n) * time.Microsecond}, nil)
			for i := 0; i < n; i++ {
				clock.Advance(time.Microsecond)
				s.Append("a", nil, nil, AppendOpts{MsgID: "pre" + strconv.Itoa(i)})
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				clock.Advance(time.Microsecond)
				s.Append("a", nil, nil, AppendOpts{MsgID: strconv.Itoa(i)})
			}
		})
	}
}

// BenchmarkBoundsDeletedWalk: the deleted sequences listed the way jsapi
// did before DeletedSeqs, one GetNext per live message.
func BenchmarkBoundsDeletedWalk(b *testing.B) {
	s := boundsStream(b)
	for i := 0; i < b.N; i++ {
		st := s.State()
		n := 0
		for seq := st.FirstSeq; seq <= st.LastSeq; {
			m, err := s.GetNext("", seq)
			if err != nil {
				break
			}
			n += int(m.Seq - seq)
			seq = m.Seq + 1
		}
		if n != st.NumDeleted {
			b.Fatalf("%d gaps, want %d", n, st.NumDeleted)
		}
	}
}

// BenchmarkBoundsNumPending: pending counts of one group (100 subjects)
// from the middle of the stream, per message and per subject (consumer
// info, direct get batches).
func BenchmarkBoundsNumPending(b *testing.B) {
	s := boundsStream(b)
	for _, lps := range []bool{false, true} {
		b.Run(fmt.Sprintf("lastPerSubject=%v", lps), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				s.NumPending("$KV.b.g7.*", boundsMsgs/2, lps)
			}
		})
	}
}

// BenchmarkBoundsAppendKV: KV puts (history 1) on a memory stream over
// 100k keys, which walk the subject tree on every append.
func BenchmarkBoundsAppendKV(b *testing.B) {
	st, err := Open("", Options{manualExpiry: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	s, _ := st.CreateStream(Config{Name: "kv", Storage: MemoryStorage, MaxMsgsPerSubject: 1}, nil)
	subjects := make([]string, 100_000)
	for i := range subjects {
		subjects[i] = "$KV.bench.key" + strconv.Itoa(i)
	}
	value := []byte("0123456789")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Append(subjects[i%len(subjects)], nil, value, AppendOpts{}); err != nil {
			b.Fatal(err)
		}
	}
}
