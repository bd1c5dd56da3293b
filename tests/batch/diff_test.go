package batch

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/cairn-db/cairn/internal/config"
	"github.com/cairn-db/cairn/internal/daemon"
)

// env is one server's side of a differential case: a connection and a
// transcript of what the case saw.
type env struct {
	t      *testing.T
	nc     *nats.Conn
	js     jetstream.JetStream
	stream string
	subj   string // the stream's subject prefix, "<lower stream>."
	memory bool   // create memory streams
	out    []string
}

func (e *env) log(format string, args ...any) { e.out = append(e.out, fmt.Sprintf(format, args...)) }

// createStream creates the case's stream with extra config.
func (e *env) createStream(cfg jetstream.StreamConfig) {
	e.t.Helper()
	cfg.Name = e.stream
	if len(cfg.Subjects) == 0 {
		cfg.Subjects = []string{e.subj + ">"}
	}
	if e.memory {
		cfg.Storage = jetstream.MemoryStorage
	}
	if _, err := e.js.CreateStream(context.Background(), cfg); err != nil {
		e.t.Fatalf("create %s: %v", e.stream, err)
	}
}

// ack logs a batch commit's outcome.
func (e *env) ack(what string, a *jetstreamext.BatchAck, err error) {
	if err != nil {
		e.log("%s: error %v", what, err)
		return
	}
	e.log("%s: stream=%s seq=%d count=%d", what, a.Stream, a.Sequence, a.BatchSize)
}

// raw publishes a message with headers (key, value pairs) as a request
// and logs the reply: "<empty>" for an empty one.
func (e *env) raw(subj, data string, hdr ...string) {
	e.t.Helper()
	m := nats.NewMsg(e.subj + subj)
	m.Data = []byte(data)
	for i := 0; i+1 < len(hdr); i += 2 {
		m.Header.Add(hdr[i], hdr[i+1])
	}
	r, err := e.nc.RequestMsg(m, 5*time.Second)
	switch {
	case err != nil:
		e.log("raw %s %v: %v", subj, hdr, err)
	case len(r.Data) == 0 && len(r.Header) == 0:
		e.log("raw %s %v: <empty>", subj, hdr)
	default:
		e.log("raw %s %v: %s %v", subj, hdr, r.Data, r.Header)
	}
}

// dump logs the stream's state and every message with its headers.
func (e *env) dump() {
	e.t.Helper()
	ctx := context.Background()
	s, err := e.js.Stream(ctx, e.stream)
	if err != nil {
		e.t.Fatal(err)
	}
	st := s.CachedInfo().State
	e.log("state msgs=%d first=%d last=%d subjects=%d", st.Msgs, st.FirstSeq, st.LastSeq, st.NumSubjects)
	for seq := st.FirstSeq; seq <= st.LastSeq && seq > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			e.log("  %d: gone", seq)
			continue
		} else if err != nil {
			e.t.Fatal(err)
		}
		var hdrs []string
		for k, vs := range m.Header {
			for _, v := range vs {
				if k == jetstreamext.BatchIDHeader && len(v) == 22 {
					v = "<nuid>" // orbit.go's random batch id
				}
				if k == jetstream.TimeStampHeaer {
					v = "<time>" // a direct get's (KV streams allow direct)
				}
				hdrs = append(hdrs, k+"="+v)
			}
		}
		sort.Strings(hdrs)
		e.log("  %d: %s %q %v", seq, strings.TrimPrefix(m.Subject, e.subj), m.Data, hdrs)
	}
}

func batchHdrs(id string, seq int, extra ...string) []string {
	return append([]string{"Nats-Batch-Id", id, "Nats-Batch-Sequence", strconv.Itoa(seq)}, extra...)
}

var commit1 = []string{"Nats-Batch-Commit", "1"}

// diffCases are run, each on a stream of its own, against both servers.
var diffCases = []struct {
	name string
	run  func(e *env)
}{
	{"orbit add and commit", func(e *env) {
		e.createStream(jetstream.StreamConfig{AllowAtomicPublish: true})
		bp, _ := jetstreamext.NewBatchPublisher(e.js)
		e.log("add: %v", bp.Add(e.subj+"a", []byte("1")))
		e.log("add: %v", bp.Add(e.subj+"b", []byte("2")))
		a, err := bp.Commit(context.Background(), e.subj+"c", []byte("3"))
		e.ack("commit", a, err)
		e.dump()
	}},
	{"orbit discard", func(e *env) {
		e.createStream(jetstream.StreamConfig{AllowAtomicPublish: true})
		bp, _ := jetstreamext.NewBatchPublisher(e.js)
		e.log("add: %v", bp.Add(e.subj+"a", []byte("1")))
		e.log("add: %v", bp.Add(e.subj+"b", []byte("2")))
		e.log("discard: %v closed=%v", bp.Discard(), bp.IsClosed())
		e.log("add after discard: %v", bp.Add(e.subj+"c", []byte("3")))
		bp2, _ := jetstreamext.NewBatchPublisher(e.js)
		a, err := bp2.Commit(context.Background(), e.subj+"d", []byte("4"))
		e.ack("other batch", a, err)
		e.dump()
	}},
	{"orbit PublishMsgBatch with headers and ids", func(e *env) {
		e.createStream(jetstream.StreamConfig{AllowAtomicPublish: true, MaxMsgsPerSubject: 2})
		var msgs []*nats.Msg
		for i := 0; i < 5; i++ {
			m := nats.NewMsg(e.subj + "k")
			m.Data = []byte(strconv.Itoa(i))
			m.Header.Set("X-App", "v"+strconv.Itoa(i))
			m.Header.Set(jetstream.MsgIDHeader, "id"+strconv.Itoa(i))
			msgs = append(msgs, m)
		}
		a, err := jetstreamext.PublishMsgBatch(context.Background(), e.js, msgs)
		e.ack("batch", a, err)
		e.dump()
	}},
	{"disabled", func(e *env) {
		e.createStream(jetstream.StreamConfig{})
		bp, _ := jetstreamext.NewBatchPublisher(e.js)
		e.log("add: %v", bp.Add(e.subj+"a", []byte("1")))
		e.raw("a", "x", batchHdrs("d", 1, commit1...)...)
		e.dump()
	}},
	{"expected last sequence", func(e *env) {
		e.createStream(jetstream.StreamConfig{AllowAtomicPublish: true})
		e.raw("p", "plain")
		e.raw("p", "plain")
		for _, want := range []uint64{5, 2} {
			bp, _ := jetstreamext.NewBatchPublisher(e.js)
			e.log("add: %v", bp.Add(e.subj+"a", []byte("1"), jetstreamext.WithBatchExpectLastSequence(want)))
			a, err := bp.Commit(context.Background(), e.subj+"b", []byte("2"))
			e.ack(fmt.Sprint("commit expecting ", want), a, err)
		}
		e.raw("a", "x", batchHdrs("L", 1)...)
		e.raw("a", "x", batchHdrs("L", 2, append([]string{"Nats-Expected-Last-Sequence", "4"}, commit1...)...)...)
		e.raw("a", "x", batchHdrs("M", 1)...)
		e.raw("a", "x", batchHdrs("M", 2, append([]string{"Nats-Expected-Last-Sequence", "5"}, commit1...)...)...)
		e.dump()
	}},
	{"expected last subject sequence", func(e *env) {
		e.createStream(jetstream.StreamConfig{AllowAtomicPublish: true})
		e.raw("a", "plain")
		for _, want := range []uint64{3, 1} {
			bp, _ := jetstreamext.NewBatchPublisher(e.js)
			e.log("add: %v", bp.Add(e.subj+"b", []byte("1"), jetstreamext.WithBatchExpectLastSequencePerSubject(0)))
			a, err := bp.Commit(context.Background(), e.subj+"a", []byte("2"), jetstreamext.WithBatchExpectLastSequencePerSubject(want))
			e.ack(fmt.Sprint("commit expecting ", want), a, err)
		}
		// A subject written earlier in the batch cannot be checked.
		e.raw("c", "x", batchHdrs("W", 1)...)
		e.raw("c", "x", batchHdrs("W", 2, append([]string{"Nats-Expected-Last-Subject-Sequence", "0"}, commit1...)...)...)
		// Two checks of one subject in a batch must agree.
		e.raw("x", "x", batchHdrs("T", 1, "Nats-Expected-Last-Subject-Sequence", "0", "Nats-Expected-Last-Subject-Sequence-Subject", e.subj+"z")...)
		e.raw("y", "x", batchHdrs("T", 2, append([]string{"Nats-Expected-Last-Subject-Sequence", "0", "Nats-Expected-Last-Subject-Sequence-Subject", e.subj + "z"}, commit1...)...)...)
		e.dump()
	}},
	{"message ids", func(e *env) {
		e.createStream(jetstream.StreamConfig{AllowAtomicPublish: true})
		e.raw("a", "plain", "Nats-Msg-Id", "stored")
		e.raw("a", "x", batchHdrs("I", 1, "Nats-Msg-Id", "m")...)
		e.raw("b", "x", batchHdrs("I", 2, append([]string{"Nats-Msg-Id", "m"}, commit1...)...)...)
		e.raw("a", "x", batchHdrs("J", 1, "Nats-Msg-Id", "n")...)
		e.raw("b", "x", batchHdrs("J", 2, append([]string{"Nats-Msg-Id", "stored"}, commit1...)...)...)
		e.raw("a", "x", batchHdrs("K", 1, append([]string{"Nats-Expected-Last-Msg-Id", "stored"}, commit1...)...)...)
		e.dump()
	}},
	{"batch headers", func(e *env) {
		e.createStream(jetstream.StreamConfig{AllowAtomicPublish: true})
		e.raw("a", "x", batchHdrs(strings.Repeat("i", 65), 1, commit1...)...)
		e.raw("a", "x", batchHdrs(strings.Repeat("i", 64), 1, commit1...)...)
		e.raw("a", "x", "Nats-Batch-Id", "nos", "Nats-Batch-Commit", "1")
		e.raw("a", "x", "Nats-Batch-Id", "bad", "Nats-Batch-Sequence", "x1", "Nats-Batch-Commit", "1")
		e.raw("a", "x", batchHdrs("C", 1)...)
		e.raw("a", "x", batchHdrs("C", 2, "Nats-Batch-Commit", "yes")...)
		e.raw("a", "x", batchHdrs("C", 3, commit1...)...)
		e.raw("a", "x", batchHdrs("G", 1)...)
		e.raw("a", "x", batchHdrs("G", 3)...)
		e.raw("a", "x", batchHdrs("G", 4, commit1...)...)
		e.raw("a", "x", batchHdrs("U", 5, commit1...)...)
		e.raw("a", "x", batchHdrs("U", 1001, commit1...)...)
		e.raw("a", "x", batchHdrs("U", 1001, "Nats-Batch-Commit", "eob")...)
		e.raw("a", "x", batchHdrs("E", 1, "Nats-Batch-Commit", "eob")...)
		e.raw("a", "x", "Nats-Batch-Id", "", "Nats-Batch-Sequence", "1", "Nats-Batch-Commit", "1")
		e.raw("a", "x", "Nats-Batch-Sequence", "1", "Nats-Batch-Commit", "1")
		e.raw("a", "1", batchHdrs("F", 1, "X-Keep", "yes")...)
		e.raw("b", "2", batchHdrs("F", 2)...)
		e.raw("eob", "end", batchHdrs("F", 3, "Nats-Batch-Commit", "eob")...)
		e.dump()
	}},
	{"other headers", func(e *env) {
		e.createStream(jetstream.StreamConfig{AllowAtomicPublish: true, AllowRollup: true})
		e.raw("a", "x", batchHdrs("S", 1, append([]string{"Nats-Expected-Stream", "NOPE"}, commit1...)...)...)
		e.raw("a", "x", batchHdrs("T", 1, append([]string{"Nats-TTL", "10s"}, commit1...)...)...)
		e.raw("a", "x", batchHdrs("T0", 1, append([]string{"Nats-TTL", "0"}, commit1...)...)...)
		e.raw("a", "x", batchHdrs("Tx", 1, append([]string{"Nats-TTL", "soon"}, commit1...)...)...)
		e.raw("a", "x", batchHdrs("R", 1)...)
		e.raw("b", "x", batchHdrs("R", 2, append([]string{"Nats-Rollup", "all"}, commit1...)...)...)
		e.raw("a", "x", batchHdrs("Q", 1)...)
		e.raw("a", "x", batchHdrs("Q", 2, append([]string{"Nats-Rollup", "sub"}, commit1...)...)...)
		e.raw("a", "x", batchHdrs("P", 1)...)
		e.raw("b", "x", batchHdrs("P", 2, append([]string{"Nats-Rollup", "sub"}, commit1...)...)...)
		e.raw("z", "x", batchHdrs("O", 1, append([]string{"Nats-Rollup", "all"}, commit1...)...)...)
		e.dump()
	}},
	{"staging errors, limits, ttl, api level", func(e *env) {
		e.createStream(jetstream.StreamConfig{AllowAtomicPublish: true, MaxMsgSize: 256, MaxMsgs: 4, Discard: jetstream.DiscardNew, AllowMsgTTL: true})
		e.raw("a", "x", batchHdrs("Z", 1)...)
		e.raw("a", strings.Repeat("x", 300), batchHdrs("Z", 2)...)
		e.raw("a", "x", batchHdrs("Z", 2, "Nats-TTL", "1h")...)
		e.raw("b", "x", batchHdrs("Z", 3, append([]string{"Nats-Required-Api-Level", "1"}, commit1...)...)...)
		e.raw("a", "x", batchHdrs("Y", 1)...)
		e.raw("a", "x", batchHdrs("Y", 2, append([]string{"Nats-Required-Api-Level", "99"}, commit1...)...)...)
		e.raw("a", "x", batchHdrs("Y", 3, commit1...)...)
		e.raw("c", "x", batchHdrs("X", 1)...)
		e.raw("c", "x", batchHdrs("X", 2, commit1...)...)
		e.raw("c", "x", batchHdrs("V", 1, append([]string{"Nats-Expected-Last-Subject-Sequence", "2", "Nats-Expected-Last-Subject-Sequence-Subject", e.subj + "*"}, commit1...)...)...)
		e.raw("c", "x", batchHdrs("V", 1, append([]string{"Nats-Expected-Last-Subject-Sequence", "3", "Nats-Expected-Last-Subject-Sequence-Subject", e.subj + "*"}, commit1...)...)...)
		e.dump()
	}},
	{"too large", func(e *env) {
		e.createStream(jetstream.StreamConfig{AllowAtomicPublish: true})
		for _, n := range []int{1001, 1000} {
			msgs := make([]*nats.Msg, n)
			for i := range msgs {
				msgs[i] = nats.NewMsg(e.subj + strconv.Itoa(i%7))
				msgs[i].Data = []byte("v")
			}
			a, err := jetstreamext.PublishMsgBatch(context.Background(), e.js, msgs)
			e.ack(fmt.Sprint(n, " messages"), a, err)
		}
		s, _ := e.js.Stream(context.Background(), e.stream)
		st := s.CachedInfo().State
		e.log("state msgs=%d last=%d", st.Msgs, st.LastSeq)
	}},
	{"in flight per stream", func(e *env) {
		e.createStream(jetstream.StreamConfig{AllowAtomicPublish: true})
		for i := 1; i <= 51; i++ {
			e.raw("a", "x", batchHdrs("B"+strconv.Itoa(i), 1)...)
		}
		e.raw("a", "x", batchHdrs("B1", 2, commit1...)...)
		e.raw("a", "x", batchHdrs("B52", 1)...)
		e.dump()
	}},
	{"kv history and deletes", func(e *env) {
		ctx := context.Background()
		bucket := strings.TrimPrefix(e.stream, "KV_")
		kvc := jetstream.KeyValueConfig{Bucket: bucket, History: 2}
		if e.memory {
			kvc.Storage = jetstream.MemoryStorage
		}
		kv, err := e.js.CreateKeyValue(ctx, kvc)
		if err != nil {
			e.t.Fatal(err)
		}
		s, _ := e.js.Stream(ctx, e.stream)
		cfg := s.CachedInfo().Config
		cfg.AllowAtomicPublish = true
		if _, err := e.js.UpdateStream(ctx, cfg); err != nil {
			e.t.Fatal(err)
		}
		kv.Put(ctx, "j", []byte("old"))
		del := func(key string) *nats.Msg {
			m := nats.NewMsg("$KV." + bucket + "." + key)
			m.Header.Set("KV-Operation", "DEL")
			return m
		}
		put := func(key, v string) *nats.Msg {
			m := nats.NewMsg("$KV." + bucket + "." + key)
			m.Data = []byte(v)
			return m
		}
		a, err := jetstreamext.PublishMsgBatch(ctx, e.js, []*nats.Msg{put("k", "1"), put("k", "2"), put("k", "3"), del("j"), put("m", "1"), del("m")})
		e.ack("batch", a, err)
		for _, key := range []string{"k", "j", "m"} {
			h, err := kv.History(ctx, key)
			var line []string
			for _, en := range h {
				line = append(line, fmt.Sprintf("%d:%s:%s", en.Revision(), en.Operation(), en.Value()))
			}
			e.log("history %s: %v %v", key, line, err)
		}
		e.subj = "$KV." + bucket + "."
		e.dump()
	}},
}

// TestDifferential runs every case on file streams, then on memory
// streams.
func TestDifferential(t *testing.T) {
	for _, memory := range []bool{false, true} {
		t.Run(map[bool]string{false: "file", true: "memory"}[memory], func(t *testing.T) {
			differential(t, memory)
		})
	}
}

func differential(t *testing.T, memory bool) {
	targets := both(t, "")
	transcripts := make([][][]string, len(targets))
	for ti, tg := range targets {
		nc := connect(t, tg.url)
		js := newJS(t, nc)
		for ci, c := range diffCases {
			name := fmt.Sprintf("S%d", ci)
			if strings.HasPrefix(c.name, "kv") {
				name = fmt.Sprintf("KV_b%d", ci)
			}
			e := &env{t: t, nc: nc, js: js, stream: name, subj: strings.ToLower(name) + ".", memory: memory}
			c.run(e)
			transcripts[ti] = append(transcripts[ti], e.out)
		}
	}
	for ci, c := range diffCases {
		got, want := transcripts[0][ci], transcripts[1][ci]
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: cairn and nats-server differ\ncairn:\n  %s\nnats-server:\n  %s", c.name,
				strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		} else if testing.Verbose() {
			t.Logf("%s:\n  %s", c.name, strings.Join(got, "\n  "))
		}
	}
}

// cairnLimits reads the peer's config file the way cairn-server would
// and returns the daemon config it gives.
func cairnLimits(t *testing.T, path string) daemon.Config {
	t.Helper()
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var dc daemon.Config
	c.Apply(&dc)
	return dc
}
