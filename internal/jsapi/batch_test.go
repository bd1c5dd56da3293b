package jsapi

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/store"
)

// These tests drive atomic batches over the in-memory bus; tests/batch
// runs the same through orbit.go and natscli against cairn-server and
// nats-server.

func newBatchAPI(t *testing.T, lim BatchLimits) (*API, *fakeBus) {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bus := newFakeBus()
	a, err := New(bus, st, Options{ServerName: "t", Batch: lim})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); st.Close() })
	bus.Publish("$JS.API.STREAM.CREATE.B", "_INBOX.create", nil,
		[]byte(`{"name":"B","subjects":["b.>"],"allow_atomic":true,"max_msgs_per_subject":2,"allow_rollup_hdrs":true}`))
	if got := bus.answer("_INBOX.create"); !strings.Contains(got, `"allow_atomic":true`) {
		t.Fatalf("create: %s", got)
	}
	bus.Publish("$JS.API.STREAM.CREATE.N", "_INBOX.create", nil, []byte(`{"name":"N","subjects":["n.>"]}`))
	return a, bus
}

// batchHdr builds the header block of a batch message; extra lines are
// "Key: Value" strings.
func batchHdr(id string, seq int, extra ...string) []byte {
	h := "NATS/1.0\r\nNats-Batch-Id: " + id + "\r\n"
	if seq > 0 {
		h += fmt.Sprintf("Nats-Batch-Sequence: %d\r\n", seq)
	}
	for _, e := range extra {
		h += e + "\r\n"
	}
	return []byte(h + "\r\n")
}

const commit = "Nats-Batch-Commit: 1"

func pubAnswer(bus *fakeBus, subj string, hdr []byte) string {
	bus.mu.Lock()
	delete(bus.last, "_INBOX.r")
	bus.mu.Unlock()
	bus.Publish(subj, "_INBOX.r", hdr, []byte("v"))
	bus.mu.Lock()
	defer bus.mu.Unlock()
	v, ok := bus.last["_INBOX.r"]
	if !ok {
		return "<none>"
	}
	return string(v)
}

func errAck(code, errCode int, desc, stream string) string {
	return fmt.Sprintf(`{"error":{"code":%d,"err_code":%d,"description":%q},"stream":%q,"seq":0}`, code, errCode, desc, stream)
}

func TestBatchPublish(t *testing.T) {
	type step struct {
		subj string
		hdr  []byte
		want string
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"commit", []step{
			{"b.1", batchHdr("x", 1), ""},
			{"b.2", batchHdr("x", 2), ""},
			{"b.3", batchHdr("x", 3, commit), `{"stream":"B","seq":3,"batch":"x","count":3}`},
		}},
		{"eob", []step{
			{"b.1", batchHdr("y", 1), ""},
			{"b.eob", batchHdr("y", 2, "Nats-Batch-Commit: eob"), `{"stream":"B","seq":1,"batch":"y","count":1}`},
		}},
		{"eob first", []step{{"b.1", batchHdr("y", 1, "Nats-Batch-Commit: eob"), errAck(400, 10176, "atomic publish batch is incomplete", "B")}}},
		{"disabled", []step{{"n.1", batchHdr("x", 1, commit), errAck(400, 10174, "atomic publish is disabled", "N")}}},
		{"missing sequence", []step{{"b.1", batchHdr("x", 0, commit), errAck(400, 10175, "atomic publish sequence is missing", "B")}}},
		{"long id", []step{{"b.1", batchHdr(strings.Repeat("i", 65), 1), errAck(400, 10179, "atomic publish batch ID is invalid", "B")}}},
		{"bad commit", []step{{"b.1", batchHdr("x", 1, "Nats-Batch-Commit: yes"), errAck(400, 10200, "atomic publish batch commit is invalid", "B")}}},
		{"gap", []step{
			{"b.1", batchHdr("x", 1), ""},
			{"b.3", batchHdr("x", 3), errAck(400, 10176, "atomic publish batch is incomplete", "B")},
			{"b.4", batchHdr("x", 3, commit), errAck(400, 10176, "atomic publish batch is incomplete", "B")},
		}},
		{"unknown batch past the limit", []step{{"b.1", batchHdr("x", 5, commit), errAck(400, 10199, "atomic publish batch is too large: 3", "B")}}},
		{"too large", []step{
			{"b.1", batchHdr("x", 1), ""},
			{"b.2", batchHdr("x", 2), ""},
			{"b.3", batchHdr("x", 3), ""},
			{"b.4", batchHdr("x", 4, commit), errAck(400, 10199, "atomic publish batch is too large: 3", "B")},
		}},
		{"expected last seq on later message", []step{
			{"b.1", batchHdr("x", 1), ""},
			{"b.2", batchHdr("x", 2, "Nats-Expected-Last-Sequence: 1", commit), errAck(400, 10164, "wrong last sequence", "B")},
		}},
		{"expected last seq wrong", []step{
			{"b.1", batchHdr("x", 1, "Nats-Expected-Last-Sequence: 9", commit), errAck(400, 10071, "wrong last sequence: 0", "B")},
		}},
		{"subject expectation twice", []step{
			{"b.1", batchHdr("x", 1, "Nats-Expected-Last-Subject-Sequence: 0"), ""},
			{"b.1", batchHdr("x", 2, "Nats-Expected-Last-Subject-Sequence: 0", commit), errAck(400, 10164, "wrong last sequence", "B")},
		}},
		{"duplicate id", []step{
			{"b.1", batchHdr("x", 1, "Nats-Msg-Id: m"), ""},
			{"b.2", batchHdr("x", 2, "Nats-Msg-Id: m", commit), errAck(400, 10201, "atomic publish batch contains duplicate message id", "B")},
		}},
		{"expected last msg id", []step{
			{"b.1", batchHdr("x", 1, "Nats-Expected-Last-Msg-Id: m", commit), errAck(400, 10177, "atomic publish unsupported header used: Nats-Expected-Last-Msg-Id", "B")},
		}},
		{"rollup all later", []step{
			{"b.1", batchHdr("x", 1), ""},
			{"b.2", batchHdr("x", 2, "Nats-Rollup: all", commit), errAck(500, 10111, "batch rollup all invalid", "B")},
		}},
		{"too many in flight", []step{
			{"b.1", batchHdr("p", 1), ""},
			{"b.1", batchHdr("q", 1), ""},
			{"b.1", batchHdr("r", 1), errAck(429, 10210, "atomic publish too many inflight", "B")},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, bus := newBatchAPI(t, BatchLimits{MaxMsgs: 3, MaxInflightPerStream: 2})
			for i, s := range c.steps {
				if got := pubAnswer(bus, s.subj, s.hdr); got != s.want {
					t.Fatalf("step %d:\n got  %s\n want %s", i+1, got, s.want)
				}
			}
		})
	}
}

func TestBatchStoredHeadersAndNothingOnFailure(t *testing.T) {
	a, bus := newBatchAPI(t, BatchLimits{})
	s := a.lookup("B")
	pubAnswer(bus, "b.1", batchHdr("x", 1))
	pubAnswer(bus, "b.2", batchHdr("x", 2, "Nats-Batch-Commit: eob"))
	m, err := s.st.Get(1)
	if err != nil {
		t.Fatal(err)
	}
	if want := "NATS/1.0\r\nNats-Batch-Id: x\r\nNats-Batch-Sequence: 1\r\nNats-Batch-Commit: 1\r\n\r\n"; string(m.Header) != want {
		t.Fatalf("stored header %q, want %q", m.Header, want)
	}
	// A failing commit leaves nothing.
	pubAnswer(bus, "b.3", batchHdr("z", 1))
	pubAnswer(bus, "b.4", batchHdr("z", 2, "Nats-Expected-Last-Subject-Sequence: 7", commit))
	if st := s.st.State(); st.Msgs != 1 || st.LastSeq != 1 {
		t.Fatalf("state after a refused batch: %+v", st)
	}
}

func TestBatchTimeoutAndBudget(t *testing.T) {
	inflight := new(BatchInflight)
	a, bus := newBatchAPI(t, BatchLimits{Timeout: 50 * time.Millisecond, MaxBytes: 100, Inflight: inflight})
	pubAnswer(bus, "b.1", batchHdr("x", 1))
	if inflight.Batches() != 1 || inflight.Bytes() == 0 {
		t.Fatalf("inflight %d batches %d bytes", inflight.Batches(), inflight.Bytes())
	}
	deadline := time.Now().Add(5 * time.Second)
	for inflight.Batches() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("batch not dropped after its timeout")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := pubAnswer(bus, "b.2", batchHdr("x", 2, commit)); got != errAck(400, 10176, "atomic publish batch is incomplete", "B") {
		t.Fatalf("commit after timeout: %s", got)
	}
	// The byte budget: the message that passes it drops its batch.
	pubAnswer(bus, "b.1", batchHdr("y", 1))
	if got := pubAnswer(bus, "b.1", batchHdr("y", 2, strings.Repeat("X-Pad: 0123456789abcdef", 4))); got != errAck(429, 10210, "atomic publish too many inflight", "B") {
		t.Fatalf("over budget: %s", got)
	}
	if inflight.Batches() != 0 || inflight.Bytes() != 0 {
		t.Fatalf("after drop: %d batches %d bytes", inflight.Batches(), inflight.Bytes())
	}
	// An update turning allow_atomic off drops the stream's batches.
	pubAnswer(bus, "b.1", batchHdr("v", 1))
	bus.Publish("$JS.API.STREAM.UPDATE.B", "_INBOX.upd", nil,
		[]byte(`{"name":"B","subjects":["b.>"],"max_msgs_per_subject":2,"allow_rollup_hdrs":true}`))
	if got := bus.answer("_INBOX.upd"); strings.Contains(got, `"allow_atomic":true`) || strings.Contains(got, "error") {
		t.Fatalf("update: %s", got)
	}
	if inflight.Batches() != 0 {
		t.Fatalf("after update: %d batches", inflight.Batches())
	}
	bus.Publish("$JS.API.STREAM.UPDATE.B", "_INBOX.upd", nil,
		[]byte(`{"name":"B","subjects":["b.>"],"max_msgs_per_subject":2,"allow_rollup_hdrs":true,"allow_atomic":true}`))
	// Deleting the stream drops its batches.
	pubAnswer(bus, "b.1", batchHdr("w", 1))
	bus.Publish("$JS.API.STREAM.DELETE.B", "_INBOX.del", nil, nil)
	if inflight.Batches() != 0 {
		t.Fatalf("after delete: %d batches", inflight.Batches())
	}
	_ = a
}

func TestBatchWithoutByteBudget(t *testing.T) {
	inflight := new(BatchInflight)
	_, bus := newBatchAPI(t, BatchLimits{MaxBytes: -1, Inflight: inflight})
	pubAnswer(bus, "b.1", batchHdr("x", 1, strings.Repeat("X-Pad: 0123456789abcdef", 4)))
	if inflight.Bytes() <= 0 {
		t.Fatalf("staged bytes %d", inflight.Bytes())
	}
	if got := pubAnswer(bus, "b.2", batchHdr("x", 2, commit)); got != `{"stream":"B","seq":2,"batch":"x","count":2}` {
		t.Fatalf("commit: %s", got)
	}
	if inflight.Batches() != 0 || inflight.Bytes() != 0 {
		t.Fatalf("after commit: %d batches %d bytes", inflight.Batches(), inflight.Bytes())
	}
}

// TestBatchBytesCountedUntilStored: a committed batch's staged bytes
// stay counted against the byte budget until the store has taken them.
// They were released when the commit began, so while commits waited
// for the stream (its lock, the sync), new batches could stage the whole
// budget again on top of the ones being stored.
func TestBatchBytesCountedUntilStored(t *testing.T) {
	inflight := new(BatchInflight)
	a, bus := newBatchAPI(t, BatchLimits{MaxBytes: 1000, Inflight: inflight})
	a.mu.RLock()
	s := a.mu.streams["B"]
	a.mu.RUnlock()
	pad := strings.Repeat("X-Pad: 0123456789abcdef", 4)
	pubAnswer(bus, "b.1", batchHdr("x", 1, pad))
	staged := inflight.Bytes()
	s.pubMu.Lock() // the store is busy: the commit waits
	done := make(chan string)
	go func() { done <- pubAnswer(bus, "b.2", batchHdr("x", 2, commit)) }()
	deadline := time.Now().Add(5 * time.Second)
	for inflight.Batches() != 0 { // the commit has left the registry
		if time.Now().After(deadline) {
			s.pubMu.Unlock()
			t.Fatal("commit did not start")
		}
		time.Sleep(time.Millisecond)
	}
	if got := inflight.Bytes(); got < staged {
		s.pubMu.Unlock()
		t.Fatalf("%d bytes counted while a batch of %d is being stored", got, staged)
	}
	s.pubMu.Unlock()
	if got := <-done; !strings.Contains(got, `"count":2`) {
		t.Fatalf("commit: %s", got)
	}
	if inflight.Bytes() != 0 {
		t.Fatalf("after commit: %d bytes", inflight.Bytes())
	}
}
