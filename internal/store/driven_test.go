package store

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// drivenSeeds returns the seeds of a driven test run: -store.drivenseed
// alone when given.
func drivenSeeds() []uint64 {
	if *drivenSeed != 0 {
		return []uint64{*drivenSeed}
	}
	if testing.Short() {
		return []uint64{1}
	}
	return []uint64{1, 2, 3}
}

// drivenReplica is one store holding the driven stream "D".
type drivenReplica struct {
	t     *testing.T
	dir   string
	clock *ManualClock
	st    *Store
	s     Stream
}

// newDrivenReplica opens a store (memory if dir is "") whose clock is
// far from the operations' times and whose expiry goroutine runs: a
// driven stream must not care.
func newDrivenReplica(t *testing.T, dir string, clockAt time.Time, cfg Config) *drivenReplica {
	r := &drivenReplica{t: t, dir: dir, clock: NewManualClock(clockAt)}
	r.open()
	cfg.Storage = MemoryStorage
	if dir != "" {
		cfg.Storage = FileStorage
	}
	s, err := r.st.CreateStream(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.s = s
	t.Cleanup(func() { r.st.Close() })
	return r
}

func (r *drivenReplica) open() {
	st, err := Open(r.dir, Options{Clock: r.clock})
	if err != nil {
		r.t.Fatal(err)
	}
	r.st = st
}

// reopen closes and reopens a file replica.
func (r *drivenReplica) reopen() {
	if err := r.st.Close(); err != nil {
		r.t.Fatal(err)
	}
	r.open()
	s, err := r.st.Stream("D")
	if err != nil {
		r.t.Fatal(err)
	}
	r.s = s
}

// TestDrivenDeterminism drives two independent stores with the same
// random log of operations, explicit times and indexes, while their
// clocks (years apart) jump about and their expiry goroutines run:
// every outcome and, at intervals and at the end, everything observable
// of the two streams must be identical. A failure names its seed;
// replay with -store.drivenseed=N.
func TestDrivenDeterminism(t *testing.T) {
	ops := 1500
	if testing.Short() {
		ops = 400
	}
	for _, variant := range []string{"memory-file", "file-file", "file-file-restart"} {
		for _, seed := range drivenSeeds() {
			t.Run(fmt.Sprintf("%s/seed=%d", variant, seed), func(t *testing.T) {
				t.Logf("seed %d (replay: -store.drivenseed=%d)", seed, seed)
				runDriven(t, variant, seed, ops)
			})
		}
	}
}

func runDriven(t *testing.T, variant string, seed uint64, ops int) {
	restart := variant == "file-file-restart"
	rng := rand.New(rand.NewPCG(seed, 1))
	cfg := drivenConfig(rng)
	dirA := ""
	if variant != "memory-file" {
		dirA = t.TempDir()
	}
	a := newDrivenReplica(t, dirA, time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC), cfg)
	b := newDrivenReplica(t, t.TempDir(), time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC), cfg)
	withBytes := dirA != ""
	g := newDrivenGen(seed, a.s)
	var trace []string
	done := map[string]int{} // successful operations by kind
	fail := func(format string, args ...any) {
		t.Helper()
		if len(trace) > 40 {
			trace = trace[len(trace)-40:]
		}
		t.Fatalf("seed %d: %s\nlast operations:\n%s", seed, fmt.Sprintf(format, args...), strings.Join(trace, "\n"))
	}
	for i := range ops {
		op := g.next()
		outA, outB := op.apply(a.s), op.apply(b.s)
		trace = append(trace, fmt.Sprintf("%s -> %s", op, outA))
		if succeeded(outA) {
			done[op.kind]++
		}
		if outA != outB {
			fail("op %d %s: outcomes differ:\n  %s\n  %s", i, op, outA, outB)
		}
		// The clocks jump by up to a day, in both directions.
		a.clock.Advance(time.Duration(rng.Int64N(int64(24*time.Hour))) - 6*time.Hour)
		b.clock.Advance(time.Duration(rng.Int64N(int64(24*time.Hour))) - 6*time.Hour)
		if restart && rng.IntN(60) == 0 {
			b.reopen()
			trace = append(trace, "(b reopened)")
		}
		if i%100 == 99 || i == ops-1 {
			if da, db := drivenDigest(a.s, withBytes), drivenDigest(b.s, withBytes); da != db {
				fail("after op %d the streams differ:\n%s\n---\n%s", i, da, db)
			}
		}
	}
	t.Logf("succeeded: %v; final %+v", done, a.s.State())
}

// TestDrivenNoBackgroundExpiry: with the expiry goroutine running and
// the clock far past every MaxAge and TTL, a driven stream keeps its
// messages (a plain stream of the same store beside it loses its own:
// the goroutine did run) until ExpireAt, whose result and next
// deadline depend only on its now.
func TestDrivenNoBackgroundExpiry(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		cfg := Config{Name: "D", Storage: h.kind, MaxAge: time.Minute, AllowMsgTTL: true,
			SubjectDeleteMarkerTTL: 30 * time.Second, DuplicateWindow: time.Minute, Driven: true}
		d := h.create(cfg)
		plain := h.create(Config{Name: "P", Storage: h.kind, MaxAge: time.Minute})
		t0 := h.clock.Now().UnixNano()
		if _, err := d.Append("a", nil, []byte("1"), AppendOpts{}); !errors.Is(err, ErrNoTime) {
			t.Fatalf("append without time: %v, want ErrNoTime", err)
		}
		mustAppend(t, d, "a", "a", AppendOpts{Time: t0, Applied: 1, MsgID: "x"})
		mustAppend(t, d, "b", "b", AppendOpts{Time: t0 + int64(time.Second), Applied: 2, TTL: 5 * time.Second})
		mustAppend(t, plain, "a", "a", AppendOpts{})
		h.clock.Advance(24 * time.Hour)
		waitFor(t, "the plain stream to expire", func() bool { return plain.State().Msgs == 0 })
		if st := d.State(); st.Msgs != 2 || st.LastSeq != 2 {
			t.Fatalf("the expiry goroutine touched the driven stream: %+v", st)
		}
		// At t0+3s nothing is due; the TTL is next.
		next, err := d.ExpireAt(t0+int64(3*time.Second), 3)
		if err != nil || next != t0+int64(6*time.Second) {
			t.Fatalf("ExpireAt(t0+3s) = %d, %v; want t0+6s", next-t0, err)
		}
		// At t0+10s the TTL'd "b" goes, a marker replaces it.
		next, err = d.ExpireAt(t0+int64(10*time.Second), 4)
		if err != nil {
			t.Fatal(err)
		}
		if want := t0 + int64(40*time.Second); next != want {
			t.Fatalf("next after the TTL pass = t0%+d, want t0+40s (the marker)", next-t0)
		}
		m, err := d.GetLast("b")
		if err != nil || m.Seq != 3 || m.Time != t0+int64(10*time.Second) || !isDeleteMarker(m.Header) {
			t.Fatalf("marker for b: %+v, %v", m, err)
		}
		// A duplicate within the window, by the entry's time.
		r, err := d.Append("a", nil, nil, AppendOpts{Time: t0 + int64(30*time.Second), Applied: 5, MsgID: "x"})
		if err != nil || !r.Duplicate || r.Seq != 1 || d.Applied() != 5 {
			t.Fatalf("duplicate: %+v, %v, applied %d", r, err, d.Applied())
		}
		// An entry applied twice changes nothing.
		if _, err := d.ExpireAt(t0+int64(time.Hour), 5); !errors.Is(err, ErrAlreadyApplied) {
			t.Fatalf("replayed entry: %v, want ErrAlreadyApplied", err)
		}
		if _, err := d.ExpireAt(t0+int64(time.Hour), 6); err != nil {
			t.Fatal(err)
		}
		if st := d.State(); st.Msgs != 1 || d.Applied() != 6 {
			// "a" aged out and got a marker; b's marker expired silently.
			t.Fatalf("after an hour: %+v applied %d", st, d.Applied())
		}
		if m, err := d.GetLast("a"); err != nil || !isDeleteMarker(m.Header) || m.Time != t0+int64(time.Hour) {
			t.Fatalf("marker for a: %+v, %v", m, err)
		}
		if err := d.UpdateConfig(Config{Name: "D", Storage: h.kind}, nil); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("clearing Driven: %v, want ErrInvalidConfig", err)
		}
		if h.kind == FileStorage {
			h.reopen()
			d, _ = h.st.Stream("D")
			if d.Applied() != 6 || !d.Config().Driven {
				t.Fatalf("after reopen: applied %d, config %+v", d.Applied(), d.Config())
			}
		}
		if next, err := d.ExpireAt(math.MaxInt64, 7); err != nil || next != never || d.State().Msgs != 0 {
			t.Fatalf("ExpireAt(never) = %d, %v, state %+v", next, err, d.State())
		}
	})
}

// TestDrivenCrash applies a random log to a file stream on a crashable
// file system, cuts the power at a random moment while entries are
// being applied, reopens and checks that the stream is exactly the
// reference (a memory replica) after entry Applied(): no mutation is
// there without its index, no index without its mutation. Under
// SyncAlways nothing acknowledged before the cut is lost. Then the
// whole log is replayed: the entries up to Applied() are refused with
// ErrAlreadyApplied, the others give the reference's outcomes, and the
// stream ends as the reference.
func TestDrivenCrash(t *testing.T) {
	ops := 300
	if testing.Short() {
		ops = 120
	}
	for _, always := range []bool{true, false} {
		for _, seed := range drivenSeeds() {
			t.Run(fmt.Sprintf("always=%v/seed=%d", always, seed), func(t *testing.T) {
				t.Logf("seed %d (replay: -store.drivenseed=%d)", seed, seed)
				drivenCrashOnce(t, always, seed, ops)
			})
		}
	}
}

func drivenCrashOnce(t *testing.T, always bool, seed uint64, n int) {
	rng := rand.New(rand.NewPCG(seed, 2))
	cfg := drivenConfig(rng)
	ref := newDrivenReplica(t, "", time.Unix(0, 0), cfg)
	g := newDrivenGen(seed, ref.s)
	ops := make([]*drivenOp, n)
	outcomes := make([]string, n)
	digests := map[uint64]string{0: drivenDigest(ref.s, false)} // by Applied()
	appliedAfter := make([]uint64, n)
	for i := range ops {
		ops[i] = g.next()
		outcomes[i] = ops[i].apply(ref.s)
		appliedAfter[i] = ref.s.Applied()
		digests[appliedAfter[i]] = drivenDigest(ref.s, false)
	}

	fs := vfs.NewCrashableMem()
	opts := Options{SyncAlways: always, fs: fs, SyncInterval: time.Millisecond, Clock: NewManualClock(time.Unix(1e9, 0))}
	st, err := Open("/db", opts)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Storage = FileStorage
	s, err := st.CreateStream(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	cut := 1 + rng.IntN(n-1)
	start, cloned := make(chan struct{}), make(chan struct{})
	var clone *vfs.MemFS
	go func() {
		<-start
		crng := rand.New(rand.NewPCG(seed, 3))
		clone = fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: crng.IntN(100), RNG: crng})
		close(cloned)
	}()
	// The cut lands while the entries after cut apply; the store stops
	// taking entries once it has landed (the rest come in the replay).
	for i, op := range ops {
		if i == cut {
			close(start)
		}
		if i > cut {
			select {
			case <-cloned:
			default:
				if got := op.apply(s); got != outcomes[i] {
					t.Fatalf("op %d %s: %s, reference %s", i, op, got, outcomes[i])
				}
				continue
			}
			break
		}
		if got := op.apply(s); got != outcomes[i] {
			t.Fatalf("op %d %s: %s, reference %s", i, op, got, outcomes[i])
		}
	}
	<-cloned
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	opts.fs = clone
	st2, err := Open("/db", opts)
	if err != nil {
		t.Fatalf("open after the cut: %v", err)
	}
	defer st2.Close()
	s2, err := st2.Stream("D")
	if err != nil {
		t.Fatal(err)
	}
	applied := s2.Applied()
	want, ok := digests[applied]
	if !ok {
		t.Fatalf("applied %d after the cut is no entry's index", applied)
	}
	if got := drivenDigest(s2, false); got != want {
		t.Fatalf("after the cut, applied %d, the stream is not the reference after entry %d:\n%s\n---\n%s", applied, applied, got, want)
	}
	if always && applied < appliedAfter[cut-1] {
		t.Fatalf("SyncAlways lost acknowledged entries: applied %d, acknowledged %d", applied, appliedAfter[cut-1])
	}
	t.Logf("cut after op %d of %d: applied %d (acknowledged before the cut: %d)", cut, n, applied, appliedAfter[cut-1])
	for i, op := range ops {
		got := op.apply(s2)
		if op.applied <= applied {
			if !strings.Contains(got, ErrAlreadyApplied.Error()) {
				t.Fatalf("replayed op %d %s: %s, want ErrAlreadyApplied", i, op, got)
			}
			continue
		}
		if got != outcomes[i] {
			t.Fatalf("replayed op %d %s: %s, reference %s", i, op, got, outcomes[i])
		}
	}
	if got, want := drivenDigest(s2, false), drivenDigest(ref.s, false); got != want {
		t.Fatalf("after the replay the stream is not the reference:\n%s\n---\n%s", got, want)
	}
}

// TestDrivenDedupRestart: a driven stream's duplicate window is the
// same on a replica that restarted as on one that did not, whatever
// happened to the messages and the window in between: ids are forgotten
// only by ExpireAt, on the disk too.
func TestDrivenDedupRestart(t *testing.T) {
	sec := int64(time.Second)
	cfg := Config{Name: "D", Driven: true, DuplicateWindow: 10 * time.Second}
	live := newDrivenReplica(t, t.TempDir(), time.Unix(0, 0), cfg)
	restarted := newDrivenReplica(t, t.TempDir(), time.Unix(0, 0), cfg)
	t0 := drivenEpoch
	steps := []func(s Stream) string{
		func(s Stream) string {
			return fmt.Sprint(s.Append("k", nil, nil, AppendOpts{Time: t0, Applied: 1, MsgID: "x"}))
		},
		func(s Stream) string { return fmt.Sprint(s.DeleteApplied(1, 2)) }, // its id stays
		func(s Stream) string {
			return fmt.Sprint(s.Append("k", nil, nil, AppendOpts{Time: t0 + 20*sec, Applied: 3, MsgID: "y"}))
		},
		func(s Stream) string {
			c := cfg
			c.Storage, c.DuplicateWindow = FileStorage, time.Minute
			return fmt.Sprint(s.UpdateConfigApplied(c, nil, 4))
		},
		// x is within the grown window on both: a duplicate of seq 1.
		func(s Stream) string {
			return fmt.Sprint(s.Append("k", nil, nil, AppendOpts{Time: t0 + 25*sec, Applied: 5, MsgID: "x"}))
		},
		func(s Stream) string {
			c := cfg
			c.Storage = FileStorage
			return fmt.Sprint(s.UpdateConfigApplied(c, nil, 6))
		},
		func(s Stream) string { return fmt.Sprint(s.ExpireAt(t0+29*sec, 7)) }, // forgets x, not y
		func(s Stream) string {
			c := cfg
			c.Storage, c.DuplicateWindow = FileStorage, time.Hour
			return fmt.Sprint(s.UpdateConfigApplied(c, nil, 8))
		},
		// x was forgotten for good, y is still there.
		func(s Stream) string {
			return fmt.Sprint(s.Append("k", nil, nil, AppendOpts{Time: t0 + 31*sec, Applied: 9, MsgID: "x"}))
		},
		func(s Stream) string {
			return fmt.Sprint(s.Append("k", nil, nil, AppendOpts{Time: t0 + 32*sec, Applied: 10, MsgID: "y"}))
		},
	}
	var outs []string
	for i, step := range steps {
		a := step(live.s)
		restarted.reopen()
		b := step(restarted.s)
		if a != b {
			t.Fatalf("step %d: live %s, restarted %s", i, a, b)
		}
		outs = append(outs, a)
	}
	for i, want := range map[int]string{
		4: "{1 0 true} <nil>",
		6: fmt.Sprint(t0+30*sec) + " <nil>", // y leaves the 10s window at t0+30s
		8: fmt.Sprintf("{3 %d false} <nil>", t0+31*sec),
		9: "{2 0 true} <nil>",
	} {
		if outs[i] != want {
			t.Errorf("step %d: %s, want %s", i, outs[i], want)
		}
	}
	if a, b := drivenDigest(live.s, true), drivenDigest(restarted.s, true); a != b {
		t.Fatalf("streams differ:\n%s\n---\n%s", a, b)
	}
}
