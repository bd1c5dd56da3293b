package store

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var (
	modelSeed = flag.Uint64("store.seed", 0, "replay the model test with this seed")
	modelOps  = flag.Int("store.ops", 3000, "operations per model test run")
)

// TestModel applies random operations to the store and to the model and
// compares every observable result. A failure names its seed; replay it
// with -store.seed=N -run 'TestModel/<storage>'.
func TestModel(t *testing.T) {
	seeds := []uint64{1, 2, 3}
	if *modelSeed != 0 {
		seeds = []uint64{*modelSeed}
	} else if testing.Short() {
		seeds = seeds[:1]
	}
	for _, kind := range []StorageType{MemoryStorage, FileStorage} {
		for _, seed := range seeds {
			t.Run(fmt.Sprintf("%s/seed=%d", kind, seed), func(t *testing.T) {
				runModel(t, kind, seed, *modelOps)
			})
		}
	}
}

type modelRun struct {
	t     *testing.T
	rng   *rand.Rand
	h     *harness
	s     Stream
	m     *model
	op    int
	trace []string
}

var (
	modelSubjects = []string{"a.1", "a.2", "a.3", "b.1", "b.2", "c", "d.x.y"}
	modelFilters  = []string{"", ">", "a.*", "a.1", "b.>", "*.2", "c", "d.*.y", "e", "*.*.*"}
	modelHeaders  = [][]byte{nil, []byte("NATS/1.0\r\nX: 1\r\n\r\n"), []byte("NATS/1.0\r\nKV-Operation: PURGE\r\n\r\n"),
		[]byte("NATS/1.0\r\nKV-Operation: DEL\r\n\r\n")}
)

func runModel(t *testing.T, kind StorageType, seed uint64, ops int) {
	r := &modelRun{t: t, rng: rand.New(rand.NewPCG(seed, seed))}
	r.h = &harness{t: t, kind: kind, clock: NewManualClock(epoch)}
	r.h.opts = Options{Clock: r.h.clock, manualExpiry: true}
	if kind == FileStorage {
		r.h.dir = t.TempDir()
	}
	r.h.open()
	defer func() { r.h.st.Close() }()
	cfg := r.randomConfig()
	r.s = r.h.create(cfg)
	cfg.Storage = kind
	r.m = newModel(kind, cfg)
	defer func() {
		if t.Failed() {
			n := len(r.trace)
			t.Logf("seed %d failed at op %d; last ops:\n%s", seed, r.op, joinLines(r.trace[max(0, n-15):]))
		}
	}()
	for r.op = 0; r.op < ops && !t.Failed(); r.op++ {
		r.step()
		r.compare()
	}
}

func joinLines(s []string) string {
	var b bytes.Buffer
	for _, l := range s {
		b.WriteString("  " + l + "\n")
	}
	return b.String()
}

func (r *modelRun) logf(format string, args ...any) {
	r.trace = append(r.trace, fmt.Sprintf("%d: ", r.op)+fmt.Sprintf(format, args...))
}

func (r *modelRun) pick(n int) int { return r.rng.IntN(n) }

func (r *modelRun) randomConfig() Config {
	cfg := Config{Name: "KV_model", Subjects: []string{">"}}
	if r.pick(2) == 0 {
		cfg.MaxMsgsPerSubject = int64(1 + r.pick(5))
	}
	if r.pick(3) == 0 {
		cfg.MaxMsgs = int64(5 + r.pick(30))
	}
	if r.pick(3) == 0 {
		cfg.MaxBytes = int64(300 + r.pick(3000))
	}
	if r.pick(3) == 0 {
		cfg.MaxAge = time.Duration(10+r.pick(100)) * time.Second
	}
	if r.pick(3) == 0 {
		cfg.MaxMsgSize = int32(8 + r.pick(40))
	}
	if r.pick(2) == 0 {
		cfg.Discard = DiscardNew
		cfg.DiscardNewPerSubject = r.pick(2) == 0
	}
	cfg.DuplicateWindow = time.Duration(r.pick(60)) * time.Second
	cfg.AllowMsgTTL = r.pick(2) == 0
	if cfg.AllowMsgTTL && r.pick(2) == 0 {
		cfg.SubjectDeleteMarkerTTL = time.Duration(1+r.pick(30)) * time.Second
	}
	return cfg
}

func (r *modelRun) step() {
	switch k := r.pick(100); {
	case k < 55:
		r.doAppend()
	case k < 62:
		seq := uint64(r.pick(int(r.m.lastSeq) + 3))
		r.logf("delete %d", seq)
		got, want := r.s.Delete(seq), r.m.delete(seq)
		r.check("delete", errKind(got), errKind(want))
	case k < 68:
		r.doPurge()
	case k < 72:
		cfg := r.randomConfig()
		cfg.Storage = r.m.kind
		// AllowMsgTTL cannot be switched off (ADR-43); keep it on.
		cfg.AllowMsgTTL = cfg.AllowMsgTTL || r.m.cfg.AllowMsgTTL
		r.logf("update %+v", cfg)
		if err := r.s.UpdateConfig(cfg, []byte("m")); err != nil {
			r.t.Fatalf("update: %v", err)
		}
		r.m.update(cfg)
	case k < 90:
		d := time.Duration(r.pick(20000)) * time.Millisecond
		r.logf("advance %v and expire", d)
		r.h.clock.Advance(d)
		now := r.h.clock.Now().UnixNano()
		r.s.(*stream).expire(now)
		r.m.expire(now)
	case k < 92 && r.h.kind == FileStorage:
		r.logf("restart")
		r.h.reopen()
		s, err := r.h.st.Stream("KV_model")
		if err != nil {
			r.t.Fatal(err)
		}
		r.s = s
		now := r.h.clock.Now().UnixNano()
		r.m.restart(now)
	default:
		r.queries()
	}
}

func (r *modelRun) doAppend() {
	subject := modelSubjects[r.pick(len(modelSubjects))]
	if r.pick(50) == 0 {
		subject = []string{"", "a.*", "bad..subject", "x y"}[r.pick(4)]
	}
	hdr := modelHeaders[r.pick(len(modelHeaders))]
	data := bytes.Repeat([]byte{'v'}, r.pick(40))
	var o AppendOpts
	if r.pick(10) == 0 {
		o.ExpectedStream = []string{"KV_model", "other"}[r.pick(2)]
	}
	if r.pick(6) == 0 {
		o.HasExpectedLastSeq = true
		o.ExpectedLastSeq = r.m.lastSeq - uint64(r.pick(2))
	}
	if r.pick(4) == 0 {
		o.HasExpectedLastSubjSeq = true
		if seqs := r.m.subjectSeqs(subject); len(seqs) > 0 && r.pick(3) > 0 {
			o.ExpectedLastSubjSeq = seqs[len(seqs)-1]
		}
		if r.pick(5) == 0 {
			o.ExpectedLastSubjSeqSubject = modelFilters[1+r.pick(len(modelFilters)-1)]
		}
	}
	if r.pick(4) == 0 {
		o.MsgID = fmt.Sprint("id", r.pick(8))
	}
	if r.pick(12) == 0 {
		o.Rollup = Rollup(1 + r.pick(2))
	}
	if r.pick(4) == 0 {
		o.TTL = []time.Duration{-1, time.Second, 5 * time.Second, 30 * time.Second}[r.pick(4)]
	}
	now := r.h.clock.Now().UnixNano()
	r.logf("append %q hdr=%q len=%d %+v", subject, hdr, len(data), o)
	got, gerr := r.s.Append(subject, hdr, data, o)
	want, werr := r.m.append(subject, hdr, data, o, now)
	r.check("append error", errKind(gerr), errKind(werr))
	r.check("append result", got, want)
}

func (r *modelRun) doPurge() {
	var o PurgeOpts
	if r.pick(2) == 0 {
		o.Subject = modelFilters[r.pick(len(modelFilters))]
	}
	switch r.pick(3) {
	case 0:
		o.Seq = uint64(r.pick(int(r.m.lastSeq) + 5))
	case 1:
		o.Keep = uint64(r.pick(5))
	}
	r.logf("purge %+v", o)
	got, err := r.s.Purge(o)
	if err != nil {
		r.t.Fatalf("purge: %v", err)
	}
	r.check("purge count", got, r.m.purge(o))
}

func (r *modelRun) check(what string, got, want any) {
	r.t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		r.t.Fatalf("op %d: %s:\n got  %v\n want %v", r.op, what, got, want)
	}
}

func (r *modelRun) compare() {
	r.check("state", r.s.State(), r.m.state())
}

func msgString(m *Msg, err error) string {
	if err != nil {
		return errKind(err)
	}
	return fmt.Sprintf("%d %s %d %q %q", m.Seq, m.Subject, m.Time, m.Header, m.Data)
}

func (r *modelRun) queries() {
	r.logf("queries")
	for i := 0; i < 3; i++ {
		seq := uint64(r.pick(int(r.m.lastSeq) + 2))
		got, gerr := r.s.Get(seq)
		want := ErrNotFound
		var wm *Msg
		if i := r.m.find(seq); i >= 0 {
			wm, want = &r.m.msgs[i].Msg, nil
		}
		r.check(fmt.Sprintf("get %d", seq), msgString(got, gerr), msgString(wm, want))
	}
	for _, subject := range modelSubjects {
		got, gerr := r.s.GetLast(subject)
		var wm *Msg
		werr := ErrNotFound
		if seqs := r.m.subjectSeqs(subject); len(seqs) > 0 {
			wm, werr = &r.m.msgs[r.m.find(seqs[len(seqs)-1])].Msg, nil
		}
		r.check("getlast "+subject, msgString(got, gerr), msgString(wm, werr))
	}
	filter := modelFilters[r.pick(len(modelFilters))]
	start := uint64(r.pick(int(r.m.lastSeq) + 2))
	got, gerr := r.s.GetNext(filter, start)
	var wm *Msg
	werr := ErrNotFound
	for i := range r.m.msgs {
		if x := &r.m.msgs[i]; x.Seq >= start && subjectMatchesNaive(filter, x.Subject) {
			wm, werr = &x.Msg, nil
			break
		}
	}
	r.check(fmt.Sprintf("getnext %q %d", filter, start), msgString(got, gerr), msgString(wm, werr))

	var lps, wantLps []string
	r.s.LastPerSubject(filter, func(m *Msg) bool { lps = append(lps, msgString(m, nil)); return true })
	last := map[string]uint64{}
	for _, x := range r.m.msgs {
		if subjectMatchesNaive(filter, x.Subject) {
			last[x.Subject] = x.Seq
		}
	}
	seqs := slices.Sorted(maps.Values(last))
	var pendingLps, pending uint64
	for _, seq := range seqs {
		wantLps = append(wantLps, msgString(&r.m.msgs[r.m.find(seq)].Msg, nil))
		if seq >= start {
			pendingLps++
		}
	}
	for _, x := range r.m.msgs {
		if x.Seq >= start && subjectMatchesNaive(filter, x.Subject) {
			pending++
		}
	}
	r.check("lastpersubject "+filter, lps, wantLps)
	r.check("numpending", r.s.NumPending(filter, start, false), pending)
	r.check("numpending lps", r.s.NumPending(filter, start, true), pendingLps)
	counts := map[string]uint64{}
	for _, x := range r.m.msgs {
		if subjectMatchesNaive(filter, x.Subject) {
			counts[x.Subject]++
		}
	}
	r.check("subjectsstate", r.s.SubjectsState(filter), counts)
}
