package jsapi

import (
	"testing"
	"time"
)

// TestKVWriteOp: a publish into a bucket is classified by its headers
// as nats.go's KV API sends them.
func TestKVWriteOp(t *testing.T) {
	h := func(lines ...string) []byte {
		b := []byte(hdrLine)
		for _, l := range lines {
			b = append(b, l+"\r\n"...)
		}
		return append(b, "\r\n"...)
	}
	for _, c := range []struct {
		name string
		hdr  []byte
		want KVOp
	}{
		{"no headers", nil, OpPut},
		{"other headers", h("Nats-Msg-Id: 1", "Nats-TTL: 5s"), OpPut},
		{"delete", h("KV-Operation: DEL"), OpDelete},
		{"delete with revision", h("KV-Operation: DEL", "Nats-Expected-Last-Subject-Sequence: 4"), OpDelete},
		{"purge", h("KV-Operation: PURGE", "Nats-Rollup: sub"), OpPurge},
		{"create", h("Nats-Expected-Last-Subject-Sequence: 0"), OpCreate},
		{"create with TTL", h("Nats-TTL: 10s", "Nats-Expected-Last-Subject-Sequence: 0"), OpCreate},
		{"update", h("Nats-Expected-Last-Subject-Sequence: 17"), OpUpdate},
		{"empty expectation", h("Nats-Expected-Last-Subject-Sequence: "), OpPut},
		{"unknown operation", h("KV-Operation: XYZ"), OpPut},
	} {
		if got := kvWriteOp(c.hdr); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

type recordingObserver struct {
	ops    []KVOp
	errors []uint16
}

func (r *recordingObserver) ObserveKVOp(op KVOp, _ Result, _ time.Duration) {
	r.ops = append(r.ops, op)
}
func (r *recordingObserver) ObserveError(code uint16) { r.errors = append(r.errors, code) }

// TestObserverHooks: with an observer installed, a put into a bucket,
// a get and an API error answer are reported; a put into a stream that
// is not a bucket is not a KV operation; without an observer nothing
// is reported.
func TestObserverHooks(t *testing.T) {
	a, bus := newBenchAPI(t)
	bus.Publish("$JS.API.STREAM.CREATE.plain", "_INBOX.c2", nil, []byte(`{"name":"plain","subjects":["plain.>"]}`))
	rec := &recordingObserver{}
	SetObserver(rec)
	defer SetObserver(nil)
	s := a.lookup("KV_b")
	s.ingest("$KV.b.k", "_INBOX.ack", nil, []byte("v"))
	s.directGetLast(directGetPrefix+"KV_b.$KV.b.k", "_INBOX.get", nil, nil)
	a.lookup("plain").ingest("plain.x", "_INBOX.ack2", nil, []byte("v"))
	bus.Publish("$JS.API.STREAM.INFO.nope", "_INBOX.info", nil, nil)
	if len(rec.ops) != 2 || rec.ops[0] != OpPut || rec.ops[1] != OpGet {
		t.Fatalf("ops %v, want put, get", rec.ops)
	}
	if len(rec.errors) != 1 || rec.errors[0] != errStreamNotFound.ErrCode {
		t.Fatalf("error codes %v, want [%d]", rec.errors, errStreamNotFound.ErrCode)
	}
	SetObserver(nil)
	s.ingest("$KV.b.k", "_INBOX.ack", nil, []byte("v"))
	if len(rec.ops) != 2 {
		t.Fatalf("reported without an observer: %v", rec.ops)
	}
}
