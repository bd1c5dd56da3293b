package consumer

import (
	"bytes"
	"errors"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/store"
)

// openStreamWith opens a KV-like stream "KV_w" with the given storage
// and history.
func openStreamWith(t testing.TB, storage store.StorageType, history int64) store.Stream {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("closing the store: %v", err)
		}
	})
	s, err := st.CreateStream(store.Config{Name: "KV_w", Subjects: []string{"$KV.w.>"}, Storage: storage, MaxMsgsPerSubject: history}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// initialData cuts deliveries where nats.go's KV watcher reports the end
// of the initial data: after initPending messages (the create
// response's count), or at the first with pending 0.
func initialData(t *testing.T, ds []delivery, initPending uint64) (initial []delivery, complete bool) {
	t.Helper()
	for i, d := range ds {
		_, _, pending := ack(t, d.reply)
		if uint64(i+1) >= initPending || pending == "0" {
			return ds[:i+1], true
		}
	}
	return ds, false
}

// TestSnapshotExactWhileRewritten: the initial data of a watch is the
// state at creation, exactly, while the keys are rewritten, deleted and
// created during its delivery: every key once, with its value at
// creation, and the changes only after the end of the initial data.
func TestSnapshotExactWhileRewritten(t *testing.T) {
	for _, tc := range []struct {
		name    string
		storage store.StorageType
		history int64
	}{
		{"file/history=1", store.FileStorage, 1},
		{"file/history=5", store.FileStorage, 5},
		{"memory/history=1", store.MemoryStorage, 1},
		{"memory/history=5", store.MemoryStorage, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const keys = 3000
			s := openStreamWith(t, tc.storage, tc.history)
			for i := range keys {
				put(t, s, "k"+strconv.Itoa(i), "old")
			}
			bus := newFakeBus()
			// While the first message is delivered, change half the
			// keys (beyond any read-ahead), delete some, add one.
			bus.onPublish = func(n int) {
				if n != 1 {
					return
				}
				for i := keys / 2; i < keys; i++ {
					put(t, s, "k"+strconv.Itoa(i), "new")
				}
				for i := 0; i < keys; i += 100 {
					del(t, s, "k"+strconv.Itoa(i))
				}
				put(t, s, "born-later", "new")
			}
			m := NewManager(bus, nil)
			defer m.Close()
			c, err := m.Create(s, Config{Name: "X", DeliverSubject: "_INBOX.s", DeliverPolicy: DeliverLastPerSubject, FilterSubjects: []string{"$KV.w.>"}})
			if err != nil {
				t.Fatal(err)
			}
			initPending := c.Info().NumPending
			if initPending != keys {
				t.Fatalf("create response pending %d, want %d", initPending, keys)
			}
			// Wait for the last change (born-later) to be delivered.
			var all []delivery
			for n := keys + 1; ; n++ {
				all = bus.waitFor(t, n)
				if all[len(all)-1].subject == "$KV.w.born-later" {
					break
				}
			}
			initial, complete := initialData(t, all, initPending)
			if !complete {
				t.Fatal("no end of the initial data")
			}
			seen := map[string]bool{}
			var last uint64
			for _, d := range initial {
				sseq, _, _ := ack(t, d.reply)
				seq, _ := strconv.ParseUint(sseq, 10, 64)
				key := strings.TrimPrefix(d.subject, "$KV.w.")
				switch {
				case seen[key]:
					t.Fatalf("key %s twice in the initial data", key)
				case d.data != "old" || d.hdr != "":
					t.Fatalf("key %s in the initial data as %q %q, want its value at creation", key, d.data, d.hdr)
				case seq <= last || seq > keys:
					t.Fatalf("key %s at seq %d after %d (created at %d)", key, seq, last, keys)
				}
				seen[key], last = true, seq
			}
			if len(seen) != keys {
				t.Fatalf("initial data holds %d keys, want %d", len(seen), keys)
			}
			// Then every change still stored, in order, exactly once
			// (with history 1 a rewrite that was deleted before its turn
			// is gone).
			var want []string
			for seq := uint64(keys + 1); ; seq++ {
				m, err := s.GetNext(">", seq)
				if err != nil {
					break
				}
				want, seq = append(want, strconv.FormatUint(m.Seq, 10)), m.Seq
			}
			var got []string
			for _, d := range all[len(initial):] {
				sseq, _, _ := ack(t, d.reply)
				got = append(got, sseq)
			}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("live sequences\n got %v\nwant %v", got, want)
			}
		})
	}
}

// failingStream injects store errors: into the snapshot after
// snapshotOK messages, and into GetNext once failGetNext is set.
type failingStream struct {
	store.Stream
	snapshotOK  int
	failGetNext atomic.Bool
}

var errInjected = errors.New("injected: disk on fire")

func (f *failingStream) SnapshotLastPerSubject(filters []string) (store.Snapshot, error) {
	sn, err := f.Stream.SnapshotLastPerSubject(filters)
	if err != nil {
		return nil, err
	}
	return &failingSnapshot{Snapshot: sn, ok: f.snapshotOK}, nil
}

func (f *failingStream) GetNext(filter string, start uint64) (*store.Msg, error) {
	if f.failGetNext.Load() {
		return nil, errInjected
	}
	return f.Stream.GetNext(filter, start)
}

type failingSnapshot struct {
	store.Snapshot
	ok int
}

func (f *failingSnapshot) Next() (*store.Msg, error) {
	if f.ok == 0 {
		return nil, errInjected
	}
	f.ok--
	return f.Snapshot.Next()
}

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestStoreErrorEndsConsumer: a store error during delivery, in the
// snapshot or live, is logged with the stream and consumer and removes
// the consumer; it is never skipped silently.
func TestStoreErrorEndsConsumer(t *testing.T) {
	for _, phase := range []string{"snapshot", "live"} {
		t.Run(phase, func(t *testing.T) {
			s := &failingStream{Stream: openStream(t), snapshotOK: 2}
			for i := range 5 {
				put(t, s, "k"+strconv.Itoa(i), "v")
			}
			var logs syncBuffer
			bus := newFakeBus()
			m := NewManager(bus, slog.New(slog.NewTextHandler(&logs, nil)))
			defer m.Close()
			cfg := Config{Name: "E", DeliverSubject: "_INBOX.e", DeliverPolicy: DeliverLastPerSubject, FilterSubjects: []string{"$KV.w.>"}, IdleHeartbeat: 10 * time.Millisecond}
			if phase == "live" {
				s.snapshotOK = 5
				cfg.DeliverPolicy = DeliverNew
			}
			if _, err := m.Create(s, cfg); err != nil {
				t.Fatal(err)
			}
			if phase == "live" {
				s.failGetNext.Store(true)
				put(t, s, "k0", "w")
			}
			deadline := time.Now().Add(5 * time.Second)
			for m.Count("KV_w") != 0 {
				if time.Now().After(deadline) {
					t.Fatalf("consumer still there after a store error; deliveries %s", summary(t, bus.messages()))
				}
				runtime.Gosched()
				select {
				case <-bus.notify:
				case <-time.After(5 * time.Millisecond):
				}
			}
			out := logs.String()
			for _, want := range []string{"level=ERROR", "stream=KV_w", "consumer=E", "disk on fire"} {
				if !strings.Contains(out, want) {
					t.Fatalf("log %q lacks %q", out, want)
				}
			}
			for _, d := range bus.messages() {
				if _, _, pending := ack(t, d.reply); pending == "0" {
					t.Fatalf("end of initial data announced despite the error: %s", summary(t, bus.messages()))
				}
			}
			if _, err := m.Get("KV_w", "E"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("get after failure: %v", err)
			}
		})
	}
}

// countingStream counts GetNext calls and the entries each one may
// have to examine (from its start to the stream's last sequence).
type countingStream struct {
	store.Stream
	calls, scanned atomic.Uint64
}

func (cs *countingStream) GetNext(filter string, start uint64) (*store.Msg, error) {
	cs.calls.Add(1)
	if last := cs.Stream.State().LastSeq; last >= start {
		cs.scanned.Add(last - start + 1)
	}
	return cs.Stream.GetNext(filter, start)
}

// TestNoRescanForNonMatchingWatcher: appends that a watcher's filter
// does not match cost it nothing, and a search never re-examines what an
// earlier one examined: the work per append stays constant, not
// proportional to the stream.
func TestNoRescanForNonMatchingWatcher(t *testing.T) {
	s := &countingStream{Stream: openStream(t)}
	bus := newFakeBus()
	m := NewManager(bus, nil)
	defer m.Close()
	if _, err := m.Create(s, Config{DeliverSubject: "_INBOX.n", DeliverPolicy: DeliverLastPerSubject, FilterSubjects: []string{"$KV.w.match.>"}}); err != nil {
		t.Fatal(err)
	}
	const appends = 3000
	for i := range appends {
		put(t, s, "other."+strconv.Itoa(i%10), "x")
		runtime.Gosched() // let the consumer run between appends
		if i%1000 == 999 {
			// A match now and then: found without rescanning.
			put(t, s, "match.m", strconv.Itoa(i))
			bus.waitFor(t, (i+1)/1000)
		}
	}
	calls, scanned := s.calls.Load(), s.scanned.Load()
	t.Logf("%d appends: %d searches, %d entries examined (%.2f per append)", appends, calls, scanned, float64(scanned)/appends)
	if calls > 20 || scanned > 2*appends {
		t.Fatalf("%d appends cost %d searches examining %d entries: rescans", appends, calls, scanned)
	}
	if got := summary(t, bus.messages()); got != `match.m s1001 c1 p0 "999"|match.m s2002 c2 p0 "1999"|match.m s3003 c3 p0 "2999"|` {
		t.Fatalf("deliveries %s", got)
	}
}

// TestStartTimeWithoutWalk: deliver by start time finds its first message
// by the store's binary search over time, not by reading every message
// before it (which took 189 ms on a 1M-message stream).
func TestStartTimeWithoutWalk(t *testing.T) {
	s := &countingStream{Stream: openStream(t)}
	const n = 3000
	for i := range n {
		put(t, s, "k"+strconv.Itoa(i), strconv.Itoa(i))
	}
	from, err := s.Stream.Get(2500)
	if err != nil {
		t.Fatal(err)
	}
	want := uint64(0) // the first message stored at or after from.Time
	for seq := uint64(1); seq <= n && want == 0; seq++ {
		if m, err := s.Stream.Get(seq); err == nil && m.Time >= from.Time {
			want = seq
		}
	}
	s.calls.Store(0)
	bus := newFakeBus()
	m := NewManager(bus, nil)
	defer m.Close()
	if _, err := m.Create(s, Config{DeliverSubject: "_INBOX.t", DeliverPolicy: DeliverByStartTime, OptStartTime: time.Unix(0, from.Time)}); err != nil {
		t.Fatal(err)
	}
	got := bus.waitFor(t, n-int(want)+1)
	if first := summary(t, got[:1]); !strings.HasPrefix(first, "k"+strconv.Itoa(int(want)-1)+" s"+strconv.Itoa(int(want))+" ") {
		t.Fatalf("first delivery %s, want sequence %d", first, want)
	}
	if calls := s.calls.Load(); calls > uint64(n-want+1)+10 {
		t.Fatalf("%d reads to deliver %d messages: the start was found by walking the stream", calls, n-want+1)
	}
}
