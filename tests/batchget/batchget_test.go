package batchget

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// fillStream creates the stream S and stores seven messages:
//
//	1 s.a "1"   2 s.b "2" (header K: v)   3 s.a "3"   4 s.c.x "4"
//	5 s.c.y "5"   6 s.b "6"   7 s.d (100 bytes)
func fillStream(t *testing.T, s *side) {
	t.Helper()
	_, err := s.js.CreateStream(context.Background(), jetstream.StreamConfig{
		Name: "S", Subjects: []string{"s.>"}, AllowDirect: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	publish(t, s, "s.a", "1")
	publish(t, s, "s.b", "2", "K", "v")
	publish(t, s, "s.a", "3")
	publish(t, s, "s.c.x", "4")
	publish(t, s, "s.c.y", "5")
	publish(t, s, "s.b", "6")
	publish(t, s, "s.d", fmt.Sprintf("%0100d", 7))
}

func TestGetBatch(t *testing.T) {
	sides := bothSides(t)
	tr := compare(t, sides, func(t *testing.T, s *side) []string {
		fillStream(t, s)
		var out []string
		add := func(what string, lines []string) { out = append(out, label(what, lines)...) }
		add("batch 3", getBatch(s, "S", 3))
		add("batch 10 from 3", getBatch(s, "S", 10, jetstreamext.GetBatchSeq(3)))
		add("subject s.c.*", getBatch(s, "S", 10, jetstreamext.GetBatchSubject("s.c.*")))
		add("subject s.b from 3", getBatch(s, "S", 10, jetstreamext.GetBatchSubject("s.b"), jetstreamext.GetBatchSeq(3)))
		add("max bytes 10", getBatch(s, "S", 10, jetstreamext.GetBatchMaxBytes(10)))
		add("max bytes 1", getBatch(s, "S", 10, jetstreamext.GetBatchMaxBytes(1)))
		add("start time of 4", getBatch(s, "S", 2, jetstreamext.GetBatchStartTime(msgTime(t, s, "S", 4))))
		add("start time past", getBatch(s, "S", 2, jetstreamext.GetBatchStartTime(time.Now().Add(time.Hour))))
		add("unknown subject", getBatch(s, "S", 5, jetstreamext.GetBatchSubject("nope")))
		add("past the end", getBatch(s, "S", 5, jetstreamext.GetBatchSeq(100)))
		for _, body := range []string{
			`{"seq":1,"batch":2}`,
			`{"seq":1,"batch":2,"no_hdr":true}`,
			`{"seq":6,"batch":5}`,
			`{"seq":5,"batch":-1}`,
			`{"next_by_subj":"s.c.>","batch":1}`,
			`{"next_by_subj":"s.b","seq":3,"batch":1}`,
			`{"seq":1,"batch":3,"max_bytes":-1}`,
			`{"seq":1,"batch":3,"up_to_seq":1}`,
			`{"seq":2,"batch":1,"up_to_time":"2000-01-01T00:00:00Z"}`,
			`{"start_time":"2000-01-01T00:00:00Z","batch":2}`,
			`{"start_time":"2100-01-01T00:00:00Z","batch":2}`,
		} {
			add(body, raw(t, s, "S", body))
		}
		return out
	})
	// Both agree; these lines pin what they agree on.
	for _, want := range []string{
		`s.a@1 "1" pending=6 last=0`,
		`s.b@2 "2" pending=5 last=1`,
		`Description=EOB; Nats-Last-Sequence=2; Nats-Num-Pending=5; Status=204; ""`,
		`error: no messages`,
	} {
		if !containsLine(tr, want) {
			t.Errorf("no line %q in\n%s", want, join(tr))
		}
	}
}

// fillHistory creates the bucket h (history 5) and writes, by revision:
//
//	1 k1=a  2 k2=a  3 k3=a  4 g.x=a  5 g.y=a  6 k1=b  7 k2=b  8 g.x=b
//	9 del k3  10 k1=c
func fillHistory(t *testing.T, s *side) jetstream.KeyValue {
	t.Helper()
	ctx := context.Background()
	kv, err := s.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "h", History: 5})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range [][2]string{{"k1", "a"}, {"k2", "a"}, {"k3", "a"}, {"g.x", "a"}, {"g.y", "a"},
		{"k1", "b"}, {"k2", "b"}, {"g.x", "b"}, {"k3", ""}, {"k1", "c"}} {
		if w[1] == "" {
			err = kv.Delete(ctx, w[0])
		} else {
			_, err = kv.PutString(ctx, w[0], w[1])
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// A bucket with history 1, where k1's value as of revision 2 is gone.
	p, err := s.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "p"})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range [][2]string{{"k1", "a"}, {"k2", "a"}, {"k1", "b"}} {
		if _, err := p.PutString(ctx, w[0], w[1]); err != nil {
			t.Fatal(err)
		}
	}
	// A memory bucket: nats-server's memory store answers an up_to_seq
	// beyond the last sequence, its file store does not.
	m, err := s.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "mem", Storage: jetstream.MemoryStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.PutString(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	return kv
}

func TestGetLastMsgsFor(t *testing.T) {
	sides := bothSides(t)
	all := []string{"$KV.h.>"}
	tr := compare(t, sides, func(t *testing.T, s *side) []string {
		fillHistory(t, s)
		var out []string
		add := func(what string, lines []string) { out = append(out, label(what, lines)...) }
		add("all", getLast(s, "KV_h", all))
		for _, n := range []uint64{1, 5, 7, 8, 9, 100} {
			add(fmt.Sprint("up to ", n), getLast(s, "KV_h", all, jetstreamext.GetLastMsgsUpToSeq(n)))
		}
		add("k1 and g.* up to 6", getLast(s, "KV_h", []string{"$KV.h.k1", "$KV.h.g.*"}, jetstreamext.GetLastMsgsUpToSeq(6)))
		add("*", getLast(s, "KV_h", []string{"$KV.h.*"}))
		add("overlapping", getLast(s, "KV_h", []string{"$KV.h.>", "$KV.h.k1", "$KV.h.g.>"}))
		add("batch 2", getLast(s, "KV_h", all, jetstreamext.GetLastMsgsBatchSize(2)))
		add("batch 2 up to 7", getLast(s, "KV_h", all, jetstreamext.GetLastMsgsBatchSize(2), jetstreamext.GetLastMsgsUpToSeq(7)))
		add("up to the time of 6", getLast(s, "KV_h", all, jetstreamext.GetLastMsgsUpToTime(msgTime(t, s, "KV_h", 6))))
		add("up to the time of 1", getLast(s, "KV_h", all, jetstreamext.GetLastMsgsUpToTime(msgTime(t, s, "KV_h", 1))))
		add("up to 2000", getLast(s, "KV_h", all, jetstreamext.GetLastMsgsUpToTime(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))))
		add("up to 2100", getLast(s, "KV_h", all, jetstreamext.GetLastMsgsUpToTime(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))))
		add("unknown key", getLast(s, "KV_h", []string{"$KV.h.nope"}))
		add("memory, up to 100", getLast(s, "KV_mem", []string{"$KV.mem.>"}, jetstreamext.GetLastMsgsUpToSeq(100)))
		add("history 1, up to 2", getLast(s, "KV_p", []string{"$KV.p.>"}, jetstreamext.GetLastMsgsUpToSeq(2)))
		for _, body := range []string{
			`{"multi_last":["$KV.h.>"],"up_to_seq":7}`,
			`{"multi_last":["$KV.h.>"],"up_to_seq":1000}`,
			`{"multi_last":["$KV.h.>"],"seq":6,"up_to_seq":8}`,
			`{"multi_last":["$KV.h.>"],"seq":100}`,
			`{"multi_last":["$KV.h.>"],"batch":2,"up_to_seq":8}`,
			`{"multi_last":["$KV.h.>"],"batch":2,"seq":5,"up_to_seq":8}`,
			`{"multi_last":["$KV.h.>"],"max_bytes":5}`,
			`{"multi_last":["$KV.h.>"],"max_bytes":-1}`,
			`{"multi_last":["$KV.h.>"],"no_hdr":true,"up_to_seq":3}`,
			`{"multi_last":["$KV.h.>"],"start_time":"2000-01-01T00:00:00Z","up_to_seq":2}`,
			`{"multi_last":["$KV.h.k1"],"up_to_seq":0}`,
			`{"multi_last":["a..b"]}`,
			`{"multi_last":["a..b","$KV.h.k2"]}`,
			`{"multi_last":[""]}`,
			`{"multi_last":"$KV.h.k1"}`,
			`{"multi_last":[]}`,
			`{"multi_last":["$KV.h.>"],"next_by_subj":"x"}`,
			`{"multi_last":["$KV.h.>"],"last_by_subj":"x"}`,
			`{"multi_last":["$KV.h.>"],"up_to_seq":3,"up_to_time":"2030-01-01T00:00:00Z"}`,
			`{"seq":1,"last_by_subj":"x"}`,
			`{"last_by_subj":"$KV.h.k1","batch":2}`,
			`{"seq":1,"start_time":"2000-01-01T00:00:00Z"}`,
			``,
			`{}`,
			`nope`,
			`{"batch":3}`,
		} {
			add(body, raw(t, s, "KV_h", body))
		}
		return out
	})
	for _, want := range []string{
		`$KV.h.k2@2 "a" pending=3 last=1`, // up to 5: k2=a, not k2=b (7)
		`Description=EOB; Nats-Last-Sequence=7; Nats-Num-Pending=0; Nats-UpTo-Sequence=7; Status=204; ""`,
		`$KV.mem.k@1 "v" pending=0 last=0`,
		`Description=Bad Request; Status=408; ""`,
		`Description=Empty Request; Status=408; ""`,
		`Description=No Results; Status=404; ""`,
	} {
		if !containsLine(tr, want) {
			t.Errorf("no line %q in\n%s", want, join(tr))
		}
	}
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

func join(lines []string) string {
	out := ""
	for _, l := range lines {
		out += l + "\n"
	}
	return out
}
