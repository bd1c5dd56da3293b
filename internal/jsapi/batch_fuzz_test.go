package jsapi

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cairn-db/cairn/internal/store"
)

// FuzzAtomicBatch feeds two publishes with arbitrary header blocks to a
// stream that allows atomic batches: the batch header parser keeps its
// invariants, nothing panics, and every batch opened is accounted for
// and released when the API closes. The seed corpus is in
// testdata/fuzz/FuzzAtomicBatch.
func FuzzAtomicBatch(f *testing.F) {
	for _, pair := range [][2]string{
		{"NATS/1.0\r\nNats-Batch-Id: a\r\nNats-Batch-Sequence: 1\r\n\r\n", "NATS/1.0\r\nNats-Batch-Id: a\r\nNats-Batch-Sequence: 2\r\nNats-Batch-Commit: 1\r\n\r\n"},
		{"NATS/1.0\r\nNats-Batch-Id: a\r\nNats-Batch-Sequence: 1\r\n\r\n", "NATS/1.0\r\nNats-Batch-Id: a\r\nNats-Batch-Sequence: 2\r\nNats-Batch-Commit: eob\r\n\r\n"},
		{"NATS/1.0\r\nNats-Batch-Id: a\r\nNats-Batch-Sequence: 18446744073709551615\r\nNats-Batch-Commit: eob\r\n\r\n", ""},
		{"NATS/1.0\r\nNats-Batch-Id: a\r\nNats-Batch-Sequence: 1\r\nNats-Rollup: all\r\nNats-Required-Api-Level: 2\r\n\r\n", "NATS/1.0\r\nNats-Batch-Id: a\r\nNats-Batch-Sequence: 2\r\nNats-Expected-Last-Subject-Sequence-Subject: b.*\r\nNats-Expected-Last-Subject-Sequence: 0\r\nNats-Batch-Commit: 1\r\n\r\n"},
		{"NATS/1.0\r\nNats-Batch-Id:\r\nNats-Batch-Sequence: 1\r\n\r\n", "NATS/1.0\r\nNats-Batch-Id: a\r\nNats-Batch-Sequence: 1\r\nNats-TTL: 5s\r\nNats-Msg-Id: x\r\nNats-Batch-Commit: 1\r\n"},
	} {
		f.Add([]byte(pair[0]), []byte(pair[1]))
	}
	f.Fuzz(func(t *testing.T, hdr1, hdr2 []byte) {
		for _, hdr := range [][]byte{hdr1, hdr2} {
			bh, ok := parseAtomicHeaders(hdr)
			if ok && (bh.id == "" || !bytes.Contains(hdr, []byte(bh.id))) {
				t.Fatalf("parseAtomicHeaders(%q): id %q", hdr, bh.id)
			}
			if ok && bh.badCommit && bh.eob {
				t.Fatalf("parseAtomicHeaders(%q): eob and invalid", hdr)
			}
			if bytes.HasPrefix(hdr, []byte(hdrLine)) {
				out := removeHeader(hdr, hdrRequiredAPILevel)
				if bytes.Contains(out, []byte("\n"+hdrRequiredAPILevel+":")) {
					t.Fatalf("removeHeader(%q) = %q", hdr, out)
				}
				_ = appendHeaderToBlock(hdr, hdrBatchCommit, "1")
			}
		}
		inflight := new(BatchInflight)
		a, bus := newFuzzBatchAPI(t, inflight)
		for i, hdr := range [][]byte{hdr1, hdr2} {
			got := pubAnswer(bus, "b.k", hdr)
			if got != "" && got != "<none>" && !strings.HasPrefix(got, `{"stream":"B"`) && !strings.HasPrefix(got, `{"error":`) {
				t.Fatalf("publish %d: answer %q", i+1, got)
			}
		}
		if inflight.Batches() < 0 || inflight.Bytes() < 0 || inflight.Batches() > 2 {
			t.Fatalf("inflight %d batches, %d bytes", inflight.Batches(), inflight.Bytes())
		}
		a.Close()
		if inflight.Batches() != 0 || inflight.Bytes() != 0 {
			t.Fatalf("after close: %d batches, %d bytes", inflight.Batches(), inflight.Bytes())
		}
	})
}

// newFuzzBatchAPI is an API over a memory-only store with a memory
// stream B that allows atomic batches.
func newFuzzBatchAPI(t *testing.T, inflight *BatchInflight) (*API, *fakeBus) {
	t.Helper()
	st, err := store.Open("", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bus := newFakeBus()
	a, err := New(bus, st, Options{ServerName: "t", Batch: BatchLimits{Inflight: inflight, MaxMsgs: 2}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); st.Close() })
	bus.Publish("$JS.API.STREAM.CREATE.B", "_INBOX.create", nil,
		[]byte(`{"name":"B","subjects":["b.>"],"storage":"memory","allow_atomic":true,"allow_rollup_hdrs":true,"allow_msg_ttl":true}`))
	if got := bus.answer("_INBOX.create"); !strings.Contains(got, `"allow_atomic":true`) {
		t.Fatalf("create: %s", got)
	}
	return a, bus
}
