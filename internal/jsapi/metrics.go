package jsapi

import (
	"bytes"
	"errors"
	"sort"
	"sync/atomic"
	"time"

	"github.com/cairn-db/cairn/internal/store"
	"github.com/cairn-db/cairn/internal/wire"
)

// Metrics hooks. The API measures the KV operations where it handles
// them and reports them, with the error codes it answers, to the
// Observer installed by SetObserver (internal/metrics); without one the
// hooks cost an atomic load. The observer is process-wide, as
// Prometheus collectors usually are: every API of the process reports
// to it.

// KVOp is a KV operation as a client sees it.
type KVOp uint8

// The KV operations measured. A write is classified by its headers
// (ADR-8, nats.go kv.go): KV-Operation DEL or PURGE, else
// Nats-Expected-Last-Subject-Sequence 0 (create) or > 0 (update), else
// put. A get is a single-message read of a bucket (direct get or
// STREAM.MSG.GET); a watch is any consumer created on a bucket (watch,
// keys, history).
const (
	OpPut KVOp = iota
	OpGet
	OpDelete
	OpCreate
	OpUpdate
	OpPurge
	OpWatch
	NumKVOps
)

var kvOpNames = [NumKVOps]string{"put", "get", "delete", "create", "update", "purge", "watch"}

// String returns the operation's metric label value.
func (o KVOp) String() string {
	if o < NumKVOps {
		return kvOpNames[o]
	}
	return "unknown"
}

// Result is the outcome of a KV operation.
type Result uint8

// Results: ResultNotFound is a get of a key that has no message (the
// client's "key not found"); every other refusal is ResultError.
const (
	ResultOK Result = iota
	ResultError
	ResultNotFound
	NumResults
)

var resultNames = [NumResults]string{"ok", "error", "not_found"}

// String returns the result's metric label value.
func (r Result) String() string {
	if r < NumResults {
		return resultNames[r]
	}
	return "unknown"
}

// Observer receives what the API measures. Its methods are called on
// the requesting client's reader goroutine, concurrently, and must be
// cheap and non-blocking (an atomic add or histogram observe).
type Observer interface {
	// ObserveKVOp records one KV operation, its outcome and the time
	// the server took to handle it.
	ObserveKVOp(op KVOp, r Result, d time.Duration)
	// ObserveError records one answer with a JetStream error code: an
	// API response or a PubAck.
	ObserveError(errCode uint16)
}

type observerBox struct{ o Observer }

var observer atomic.Pointer[observerBox]

// SetObserver installs the process-wide observer; nil removes it.
func SetObserver(o Observer) {
	if o == nil {
		observer.Store(nil)
		return
	}
	observer.Store(&observerBox{o})
}

// observeKV reports a KV operation that started at start.
func observeKV(op KVOp, r Result, start time.Time) {
	if b := observer.Load(); b != nil {
		b.o.ObserveKVOp(op, r, time.Since(start))
	}
}

// observeError reports an error answer.
func observeError(e *APIError) {
	if e == nil {
		return
	}
	if b := observer.Load(); b != nil {
		b.o.ObserveError(e.ErrCode)
	}
}

// observing reports whether an observer is installed, so a hook can
// skip reading the clock when nobody listens.
func observing() bool { return observer.Load() != nil }

// apiErr returns the error a response carries; promoted to every
// response type that embeds apiResponse, so respond can count codes.
func (r apiResponse) apiErr() *APIError { return r.Error }

// responseError returns the error of a response value, or nil.
func responseError(v any) *APIError {
	if r, ok := v.(interface{ apiErr() *APIError }); ok {
		return r.apiErr()
	}
	return nil
}

// kvWriteOp classifies a publish into a bucket by its headers. A put
// without headers costs nothing more.
func kvWriteOp(hdr []byte) KVOp {
	if len(hdr) == 0 {
		return OpPut
	}
	if v, ok := wire.HeaderValue(hdr, hdrKVOperation); ok {
		switch v {
		case "DEL":
			return OpDelete
		case "PURGE":
			return OpPurge
		}
	}
	if !bytes.Contains(hdr, []byte(hdrExpectedLastSubj)) {
		return OpPut
	}
	if v, ok := wire.HeaderValue(hdr, hdrExpectedLastSubj); ok && v != "" {
		if v == "0" {
			return OpCreate
		}
		return OpUpdate
	}
	return OpPut
}

// resultOf is the result of an operation answered with e.
func resultOf(e *APIError) Result {
	if e != nil {
		return ResultError
	}
	return ResultOK
}

// BucketStats is one KV bucket's state, for metrics.
type BucketStats struct {
	// Bucket is the bucket's name (the stream KV_<bucket>).
	Bucket string
	// Entries counts the messages held (values of every revision kept,
	// delete and purge markers); Bytes their size as stream info
	// reports it; Keys the keys with at least one message.
	Entries, Bytes uint64
	Keys           int
	// Watchers counts the bucket's consumers (watches, key listings,
	// history reads in progress).
	Watchers int
}

// Buckets returns the state of every KV bucket of the account, sorted
// by name. Safe for concurrent use; one pass over the streams, reading
// the store's counters, no message.
func (a *API) Buckets() []BucketStats {
	var out []BucketStats
	for _, s := range a.allStreams() {
		bucket := kvBucket(&s.snap.Load().cfg)
		if bucket == "" {
			continue
		}
		st := s.st.State()
		b := BucketStats{Bucket: bucket, Entries: st.Msgs, Bytes: st.Bytes, Keys: st.NumSubjects}
		if a.consumers != nil {
			b.Watchers = a.consumers.Count(s.name)
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Bucket < out[j].Bucket })
	return out
}

// kvStart returns the start time of an operation on the stream when it
// is a bucket and an observer listens, else the zero time.
func (s *stream) kvStart() time.Time {
	if !observing() || s.snap.Load().kvPrefix == "" {
		return time.Time{}
	}
	return time.Now()
}

// observeGet reports a get that started at start (zero: not observed)
// and ended with err from the store.
func observeGet(start time.Time, err error) {
	if start.IsZero() {
		return
	}
	r := ResultOK
	switch {
	case errors.Is(err, store.ErrNotFound):
		r = ResultNotFound
	case err != nil:
		r = ResultError
	}
	observeKV(OpGet, r, start)
}

// observeWatch reports a consumer creation on a bucket that started at
// *start (zero: not observed, or already reported) and clears *start,
// so that a deferred report of failure after a reported success is a
// no-op.
func observeWatch(start *time.Time, r Result) {
	if start.IsZero() {
		return
	}
	observeKV(OpWatch, r, *start)
	*start = time.Time{}
}
