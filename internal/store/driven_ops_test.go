package store

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Random operation sequences for driven streams (driven_test.go): what
// a replicated log would hand every replica, with explicit times and
// log indexes. An operation is plain data, so one sequence can be
// applied to any number of stores and replayed from its seed.

var drivenSeed = flag.Uint64("store.drivenseed", 0, "replay the driven stream tests with this seed")

// drivenOp is one log entry for the stream "D".
type drivenOp struct {
	kind    string // append, batch, expire, purge, delete, config, noop
	applied uint64
	time    int64 // append, batch: AppendOpts.Time; expire: now

	subject   string
	hdr, data []byte
	opts      AppendOpts
	batch     []BatchMsg
	purge     PurgeOpts
	seq       uint64
	cfg       Config
}

func (op *drivenOp) String() string {
	switch op.kind {
	case "append":
		o := op.opts
		return fmt.Sprintf("#%d append %s t=%d hdr=%q len=%d id=%q ttl=%v roll=%d els=%v/%d elss=%v/%d/%q",
			op.applied, op.subject, o.Time, op.hdr, len(op.data), o.MsgID, o.TTL, o.Rollup,
			o.HasExpectedLastSeq, o.ExpectedLastSeq, o.HasExpectedLastSubjSeq, o.ExpectedLastSubjSeq, o.ExpectedLastSubjSeqSubject)
	case "batch":
		var b strings.Builder
		for _, m := range op.batch {
			fmt.Fprintf(&b, " [%s id=%q ttl=%v roll=%d]", m.Subject, m.MsgID, m.TTL, m.Rollup)
		}
		return fmt.Sprintf("#%d batch t=%d%s", op.applied, op.time, b.String())
	case "expire":
		return fmt.Sprintf("#%d expire now=%d", op.applied, op.time)
	case "purge":
		return fmt.Sprintf("#%d purge %+v", op.applied, op.purge)
	case "delete":
		return fmt.Sprintf("#%d delete %d", op.applied, op.seq)
	case "config":
		return fmt.Sprintf("#%d config %+v", op.applied, op.cfg)
	}
	return fmt.Sprintf("#%d %s", op.applied, op.kind)
}

// apply applies op to s and describes the outcome, for comparison.
func (op *drivenOp) apply(s Stream) string {
	var out string
	var err error
	switch op.kind {
	case "append":
		var r AppendResult
		r, err = s.Append(op.subject, op.hdr, op.data, op.opts)
		out = fmt.Sprintf("%+v", r)
	case "batch":
		var r BatchResult
		r, err = s.(BatchAppender).AppendBatchOpts(op.batch, BatchOpts{Time: op.time, Applied: op.applied})
		out = fmt.Sprintf("%+v", r)
	case "expire":
		var next int64
		next, err = s.ExpireAt(op.time, op.applied)
		out = fmt.Sprint(next)
	case "purge":
		var n uint64
		n, err = s.Purge(op.purge)
		out = fmt.Sprint(n)
	case "delete":
		err = s.DeleteApplied(op.seq, op.applied)
	case "config":
		cfg := op.cfg
		cfg.Storage = s.Config().Storage
		err = s.UpdateConfigApplied(cfg, []byte(op.String()), op.applied)
	case "noop":
		err = s.SetApplied(op.applied)
	}
	if err != nil {
		out += " err=" + err.Error()
	}
	return out
}

// succeeded reports whether an outcome of apply is a success (so the
// op's index is recorded).
func succeeded(outcome string) bool { return !strings.Contains(outcome, " err=") }

var (
	drivenSubjects = []string{"a.1", "a.2", "a.3", "b.1", "b.2", "c"}
	drivenHeaders  = [][]byte{nil, []byte("NATS/1.0\r\nX: 1\r\n\r\n"), []byte("NATS/1.0\r\nKV-Operation: PURGE\r\n\r\n")}
	drivenEpoch    = time.Date(2027, 3, 4, 5, 6, 7, 0, time.UTC).UnixNano()
)

// drivenGen generates operations; it reads ref (a stream the
// operations are applied to) to make expectations that may hold.
type drivenGen struct {
	rng     *rand.Rand
	ref     Stream
	t       int64
	applied uint64
}

func newDrivenGen(seed uint64, ref Stream) *drivenGen {
	return &drivenGen{rng: rand.New(rand.NewPCG(seed, 0x5eed)), ref: ref, t: drivenEpoch}
}

func (g *drivenGen) pick(n int) int { return g.rng.IntN(n) }

func drivenConfig(rng *rand.Rand) Config {
	pick := rng.IntN
	cfg := Config{Name: "D", Subjects: []string{">"}, Driven: true, AllowMsgTTL: true}
	if pick(2) == 0 {
		cfg.MaxMsgsPerSubject = int64(1 + pick(4))
	}
	if pick(3) == 0 {
		cfg.MaxMsgs = int64(5 + pick(30))
	}
	if pick(2) == 0 {
		cfg.MaxAge = time.Duration(5+pick(60)) * time.Second
	}
	if pick(4) == 0 {
		cfg.MaxMsgSize = int32(8 + pick(40))
	}
	if pick(3) == 0 {
		cfg.Discard = DiscardNew
		cfg.DiscardNewPerSubject = pick(2) == 0
	}
	cfg.DuplicateWindow = time.Duration(pick(40)) * time.Second
	if pick(2) == 0 {
		cfg.SubjectDeleteMarkerTTL = time.Duration(1+pick(20)) * time.Second
	}
	return cfg
}

// next returns the next operation.
func (g *drivenGen) next() *drivenOp {
	// Time mostly moves forward, by up to 4s; now and then it stands
	// still or goes back a little (a new leader's clock).
	switch k := g.pick(20); {
	case k == 0:
		g.t -= int64(g.pick(2000)) * int64(time.Millisecond)
	case k < 3:
	default:
		g.t += int64(g.pick(4000)) * int64(time.Millisecond)
	}
	g.applied += 1 + uint64(g.pick(3)/2) // entries of other streams in between
	op := &drivenOp{applied: g.applied, time: g.t}
	st := g.ref.State()
	switch k := g.pick(100); {
	case k < 55:
		op.kind = "append"
		op.subject, op.hdr, op.data, op.opts = g.appendArgs(st)
	case k < 62:
		op.kind = "batch"
		for range 1 + g.pick(4) {
			subject, hdr, data, o := g.appendArgs(st)
			m := BatchMsg{Subject: subject, Header: hdr, Data: data, TTL: o.TTL, MsgID: o.MsgID}
			if g.pick(10) == 0 {
				m.Rollup = RollupSubject
			}
			op.batch = append(op.batch, m)
		}
	case k < 80:
		op.kind = "expire"
		op.time = g.t + int64(g.pick(90))*int64(time.Second) - int64(10*time.Second)
	case k < 85:
		op.kind = "purge"
		op.purge = PurgeOpts{Applied: op.applied}
		if g.pick(2) == 0 {
			op.purge.Subject = []string{"a.*", "b.1", "c", ">"}[g.pick(4)]
		}
		if g.pick(3) == 0 {
			op.purge.Keep = uint64(g.pick(3))
		} else if g.pick(3) == 0 {
			op.purge.Seq = uint64(g.pick(int(st.LastSeq) + 3))
		}
	case k < 91:
		op.kind = "delete"
		op.seq = st.FirstSeq + uint64(g.pick(int(st.LastSeq-st.FirstSeq)+2))
	case k < 95:
		op.kind = "config"
		op.cfg = drivenConfig(g.rng)
	default:
		op.kind = "noop"
	}
	return op
}

func (g *drivenGen) appendArgs(st State) (subject string, hdr, data []byte, o AppendOpts) {
	subject = drivenSubjects[g.pick(len(drivenSubjects))]
	hdr = drivenHeaders[g.pick(len(drivenHeaders))]
	data = bytes.Repeat([]byte{byte('a' + g.pick(26))}, g.pick(40))
	o = AppendOpts{Time: g.t, Applied: g.applied}
	if g.pick(3) == 0 {
		o.MsgID = fmt.Sprintf("id%d", g.pick(30))
	}
	if g.pick(4) == 0 {
		o.TTL = []time.Duration{-1, time.Second, 5 * time.Second, 30 * time.Second}[g.pick(4)]
	}
	if g.pick(10) == 0 {
		o.HasExpectedLastSeq, o.ExpectedLastSeq = true, st.LastSeq-uint64(g.pick(2))
	}
	if g.pick(10) == 0 {
		o.HasExpectedLastSubjSeq = true
		if m, err := g.ref.GetLast(subject); err == nil && g.pick(3) > 0 {
			o.ExpectedLastSubjSeq = m.Seq
		}
		if g.pick(4) == 0 {
			o.ExpectedLastSubjSeqSubject = "a.*"
		}
	}
	switch g.pick(30) {
	case 0:
		o.Rollup = RollupSubject
	case 1:
		o.Rollup = RollupAll
	}
	return subject, hdr, data, o
}

// drivenDigest describes everything observable of a stream: every
// message, the state (without Bytes, which memory and file streams
// count differently, when withBytes is false), the deleted sequences,
// the subjects and the applied index.
func drivenDigest(s Stream, withBytes bool) string {
	var b strings.Builder
	st := s.State()
	if !withBytes {
		st.Bytes = 0
	}
	fmt.Fprintf(&b, "state %+v applied %d\n", st, s.Applied())
	for seq := st.FirstSeq; seq <= st.LastSeq && seq > 0; seq++ {
		m, err := s.Get(seq)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			fmt.Fprintf(&b, "get %d: %v\n", seq, err)
			continue
		}
		fmt.Fprintf(&b, "%d %d %s %q %q\n", m.Seq, m.Time, m.Subject, m.Header, m.Data)
	}
	for from := uint64(0); ; {
		seqs, next := s.DeletedSeqs(from, 100)
		fmt.Fprintf(&b, "deleted %v\n", seqs)
		if next == 0 {
			break
		}
		from = next
	}
	fmt.Fprintf(&b, "subjects %v\n", s.SubjectsState(">"))
	return b.String()
}
