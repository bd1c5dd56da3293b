package replica

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/store"
)

// The decoders of a stream group's log entries and catch-up frames read
// bytes from the log and from peers: whatever they are given, they must
// return an error rather than panic, never allocate by a length they
// were not given bytes for, and what they accept must encode back to
// the same values. Corpus: testdata/fuzz/<Fuzz name>.

func seedEntries(f *testing.F) {
	f.Add(appendEntry(time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC).UnixNano(), "$KV.b.k", []byte("NATS/1.0\r\nNats-TTL: 5s\r\n\r\n"), []byte("v"),
		&store.AppendOpts{HasExpectedLastSubjSeq: true, ExpectedLastSubjSeq: 7, ExpectedLastSubjSeqSubject: "$KV.b.k", MsgID: "id", TTL: 5 * time.Second, Rollup: 1}))
	f.Add(appendEntry(-1, "", nil, nil, &store.AppendOpts{HasExpectedLastSeq: true, ExpectedLastSeq: 1<<64 - 1, TTL: -1}))
	f.Add(deleteEntry(42))
	f.Add(purgeEntry(store.PurgeOpts{Subject: "$KV.b.>", Seq: 3, Keep: 1}))
	cfg, err := configEntry(store.Config{Name: "KV_b", Subjects: []string{"$KV.b.>"}, MaxMsgsPerSubject: 1}, []byte(`{"x":1}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(cfg)
	f.Add(expireEntry(1 << 62))
	if b, err := batchEntry(7, []store.BatchMsg{{Subject: "a.b", Data: []byte("x"), MsgID: "id", HasExpectedLastSeq: true},
		{Subject: "a.c", RefuseLate: &Refusal{Code: 400, ErrCode: 10071, Description: "wrong"}}}); err == nil {
		f.Add(b)
	}
	f.Add([]byte{opAppend, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})
	f.Add([]byte{opConfig, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
	f.Add([]byte{})
	f.Add([]byte{99})
}

// FuzzDecodeEntry: decodeEntry never panics, and an entry it accepts
// re-encodes to one that decodes to the same entry.
func FuzzDecodeEntry(f *testing.F) {
	seedEntries(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := decodeEntry(data)
		if err != nil {
			return
		}
		var again []byte
		switch e.op {
		case opAppend:
			again = appendEntry(e.time, e.subject, e.hdr, e.data, &e.opts)
		case opDelete:
			again = deleteEntry(e.seq)
		case opPurge:
			again = purgeEntry(store.PurgeOpts{Subject: e.subject, Seq: e.seq, Keep: e.keep})
		case opConfig:
			if again, err = configEntry(e.cfg, e.meta); err != nil {
				t.Fatalf("accepted config does not encode: %v", err)
			}
		case opExpire:
			again = expireEntry(e.time)
		case opBatch:
			if again, err = batchEntry(e.time, e.batch); err != nil {
				t.Fatalf("accepted batch does not encode: %v", err)
			}
		default:
			t.Fatalf("accepted op %d", e.op)
		}
		e2, err := decodeEntry(again)
		if err != nil {
			t.Fatalf("re-encoded entry %x does not decode: %v", again, err)
		}
		if e.op == opConfig {
			// The configuration went through JSON twice: compare as JSON.
			j1, _ := json.Marshal(e.cfg)
			j2, _ := json.Marshal(e2.cfg)
			if !bytes.Equal(j1, j2) || !bytes.Equal(e.meta, e2.meta) {
				t.Fatalf("config entry changed: %s %q -> %s %q", j1, e.meta, j2, e2.meta)
			}
			return
		}
		if !reflect.DeepEqual(e, e2) {
			t.Fatalf("entry changed by a round trip:\n%+v\n%+v", e, e2)
		}
	})
}

// FuzzDecodeResponse: a catch-up answer never panics the decoder, and
// its body is the bytes after the header.
func FuzzDecodeResponse(f *testing.F) {
	f.Add(encodeResponse(1, 0, 0, []byte("header")))
	f.Add(encodeResponse(1<<63, 1<<40, flagFinal, nil))
	f.Add(encodeResponse(7, 3, flagError, []byte("no such fetch")))
	f.Add([]byte{1, 2, 3})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeResponse(b)
		if err != nil {
			return
		}
		if len(r.body) > len(b)-8 {
			t.Fatalf("body of %d bytes from a frame of %d", len(r.body), len(b))
		}
		again := encodeResponse(r.session, r.chunk, r.flags, r.body)
		r2, err := decodeResponse(again)
		if err != nil || r2.session != r.session || r2.chunk != r.chunk || r2.flags != r.flags || !bytes.Equal(r2.body, r.body) {
			t.Fatalf("response changed by a round trip: %+v -> %+v (%v)", r, r2, err)
		}
	})
}

// FuzzDecodeMsgs: a chunk of messages never panics the decoder, and
// the messages it accepts re-encode to the same messages.
func FuzzDecodeMsgs(f *testing.F) {
	var chunk []byte
	for i, m := range []store.ExportedMsg{
		{Msg: store.Msg{Subject: "$KV.b.a", Seq: 1, Time: 10, Data: []byte("1")}},
		{Msg: store.Msg{Subject: "$KV.b.b", Seq: 5, Time: 11, Header: []byte("NATS/1.0\r\nKV-Operation: DEL\r\n\r\n")}, TTL: time.Second, MsgID: "x"},
		{Msg: store.Msg{Subject: "$KV.b.c", Seq: 1 << 62, Time: -3}, TTL: -1},
	} {
		chunk = appendMsg(chunk, &m)
		if i == 0 {
			f.Add(slices.Clone(chunk))
		}
	}
	f.Add(chunk)
	f.Add([]byte{1, 2, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, body []byte) {
		var got []store.ExportedMsg
		if err := decodeMsgs(body, func(m store.ExportedMsg) error {
			got = append(got, m)
			return nil
		}); err != nil {
			return
		}
		var again []byte
		for i := range got {
			again = appendMsg(again, &got[i])
		}
		var back []store.ExportedMsg
		if err := decodeMsgs(again, func(m store.ExportedMsg) error {
			back = append(back, m)
			return nil
		}); err != nil {
			t.Fatalf("re-encoded messages do not decode: %v", err)
		}
		if len(got) == 0 && len(back) == 0 {
			return
		}
		if !reflect.DeepEqual(got, back) {
			t.Fatalf("messages changed by a round trip:\n%+v\n%+v", got, back)
		}
	})
}

// FuzzDecodeReplicaHeader: a catch-up's first chunk (a peer's stream
// header) never panics the decoder.
func FuzzDecodeReplicaHeader(f *testing.F) {
	h := store.ReplicaHeader{Config: store.Config{Name: "KV_b", Subjects: []string{"$KV.b.>"}, Driven: true}, Applied: 9, FirstSeq: 1, LastSeq: 3, Msgs: 3}
	f.Add(h.Encode())
	f.Add([]byte("{}"))
	f.Add([]byte{0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := store.DecodeReplicaHeader(b)
		if err != nil {
			return
		}
		_ = h.Validate()
	})
}
