package jsapi

import (
	"bytes"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairn-db/cairn/internal/wire"
)

// Atomic batch publish (ADR-50). A publisher sends the messages of a
// batch with Nats-Batch-Id and Nats-Batch-Sequence (1, 2, …) and marks
// the last with Nats-Batch-Commit: 1 (stored) or eob (an end marker,
// not stored). Until the commit the messages are staged here, in
// memory, per stream and batch id; the commit checks them and hands
// them to the store as one write (store.AppendBatch), so the batch is
// stored whole or not at all. Staged messages are bounded by the limits
// below, as in nats-server, and by a byte budget of Cairn's own.

// Default batch limits, nats-server's (jetstream { limits { batch { … } } }).
const (
	DefaultBatchMaxInflightPerStream = 50
	DefaultBatchMaxInflightTotal     = 1000
	DefaultBatchMaxMsgs              = 1000
	DefaultBatchTimeout              = 10 * time.Second
	// DefaultBatchMaxBytes bounds the bytes (subject, header and data)
	// staged by all open batches of a server together. nats-server has
	// no such bound: 1000 batches of 1000 messages of max_payload could
	// hold terabytes.
	DefaultBatchMaxBytes = 256 << 20
)

const (
	hdrBatchSeq    = "Nats-Batch-Sequence"
	hdrBatchCommit = "Nats-Batch-Commit"
	maxBatchIDLen  = 64
)

// BatchLimits bound the atomic batches open at once. Zero values take
// the defaults above; a negative MaxBytes means no byte budget.
type BatchLimits struct {
	// MaxInflightPerStream: open batches per stream (10210 beyond).
	MaxInflightPerStream int
	// MaxInflightTotal: open batches of the whole server, counted in
	// Inflight (10210 beyond).
	MaxInflightTotal int
	// MaxMsgs: messages per batch, the eob marker not counted (10199
	// beyond).
	MaxMsgs int
	// Timeout: an open batch is dropped this long after its latest
	// message.
	Timeout time.Duration
	// MaxBytes: bytes staged by all open batches of the server; the
	// message that would pass it drops its batch (10210).
	MaxBytes int64
	// Inflight counts the open batches and staged bytes of every API of
	// one server (all accounts); nil gives the API a counter of its own.
	Inflight *BatchInflight
}

// BatchInflight counts what the open batches of a server hold. The zero
// value is ready.
type BatchInflight struct {
	batches atomic.Int64
	bytes   atomic.Int64
}

// Batches returns the number of open batches.
func (b *BatchInflight) Batches() int64 { return b.batches.Load() }

// Bytes returns the bytes the open batches hold.
func (b *BatchInflight) Bytes() int64 { return b.bytes.Load() }

func (l BatchLimits) withDefaults() BatchLimits {
	if l.MaxInflightPerStream <= 0 {
		l.MaxInflightPerStream = DefaultBatchMaxInflightPerStream
	}
	if l.MaxInflightTotal <= 0 {
		l.MaxInflightTotal = DefaultBatchMaxInflightTotal
	}
	if l.MaxMsgs <= 0 {
		l.MaxMsgs = DefaultBatchMaxMsgs
	}
	if l.Timeout <= 0 {
		l.Timeout = DefaultBatchTimeout
	}
	if l.MaxBytes == 0 {
		l.MaxBytes = DefaultBatchMaxBytes
	}
	if l.Inflight == nil {
		l.Inflight = new(BatchInflight)
	}
	return l
}

// atomicBatches holds the open batches of an API's streams.
type atomicBatches struct {
	mu   sync.Mutex
	open map[*stream]map[string]*openAtomicBatch
	// bytes is what the account's open and committing batches hold,
	// kept within the account's storage limit.
	bytes atomic.Int64
}

// openAtomicBatch is one batch being staged.
type openAtomicBatch struct {
	id    string
	timer *time.Timer
	msgs  []stagedAtomicMsg
	bytes int64
	done  bool // dropped or committing: the timer must not count it again
}

type stagedAtomicMsg struct {
	subject   string
	hdr, data []byte
}

// atomicHeaders is what the batch headers of one message say.
type atomicHeaders struct {
	id        string
	seq       uint64
	hasSeq    bool
	commit    bool // any Nats-Batch-Commit
	eob       bool // Nats-Batch-Commit: eob
	badCommit bool // a commit value other than "1" and "eob"
}

// parseAtomicHeaders reads the batch headers of a header block: the id
// (present when ok), the sequence (a plain decimal number; anything
// else counts as missing) and the commit marker.
func parseAtomicHeaders(hdr []byte) (b atomicHeaders, ok bool) {
	if len(hdr) == 0 || !bytes.Contains(hdr, []byte(hdrBatchID)) {
		return b, false
	}
	if b.id, ok = wire.HeaderValue(hdr, hdrBatchID); !ok || b.id == "" {
		return b, false
	}
	if v, ok := wire.HeaderValue(hdr, hdrBatchSeq); ok && v != "" && isDigits(v) {
		n, err := strconv.ParseUint(v, 10, 64)
		b.seq, b.hasSeq = n, err == nil
	}
	if v, ok := wire.HeaderValue(hdr, hdrBatchCommit); ok {
		b.commit = true
		b.eob = v == "eob"
		b.badCommit = !b.eob && v != "1"
	}
	return b, true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// dropLocked forgets a batch and returns what it held to the server's
// count. Idempotent.
func (r *atomicBatches) dropLocked(a *API, s *stream, b *openAtomicBatch) {
	if b.done {
		return
	}
	b.done = true
	b.timer.Stop()
	a.opts.Batch.Inflight.batches.Add(-1)
	a.opts.Batch.Inflight.bytes.Add(-b.bytes)
	r.bytes.Add(-b.bytes)
	b.msgs = nil
	if m := r.open[s]; m[b.id] == b {
		delete(m, b.id)
		if len(m) == 0 {
			delete(r.open, s)
		}
	}
}

// dropStream forgets every open batch of a stream (deleted, or no
// longer allowing atomic publish).
func (a *API) dropAtomicBatches(s *stream) {
	r := &a.batches
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.open[s] {
		r.dropLocked(a, s, b)
	}
}

// openAtomicBatchLocked finds the batch id of s or, for the first message of
// a new batch, opens it within the limits.
func (a *API) openAtomicBatchLocked(s *stream, bh *atomicHeaders) (*openAtomicBatch, *APIError) {
	r := &a.batches
	lim := &a.opts.Batch
	if b := r.open[s][bh.id]; b != nil {
		return b, nil
	}
	if bh.seq != 1 {
		size := bh.seq
		if bh.eob {
			size--
		}
		if size > uint64(lim.MaxMsgs) {
			return nil, errAtomicPublishTooLargeF(lim.MaxMsgs)
		}
		return nil, errAtomicPublishIncomplete
	}
	if len(r.open[s])+1 > lim.MaxInflightPerStream {
		return nil, errAtomicPublishTooManyInflight
	}
	if lim.Inflight.batches.Add(1) > int64(lim.MaxInflightTotal) {
		lim.Inflight.batches.Add(-1)
		return nil, errAtomicPublishTooManyInflight
	}
	b := &openAtomicBatch{id: bh.id}
	b.timer = time.AfterFunc(lim.Timeout, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.dropLocked(a, s, b)
	})
	if r.open == nil {
		r.open = make(map[*stream]map[string]*openAtomicBatch)
	}
	if r.open[s] == nil {
		r.open[s] = make(map[string]*openAtomicBatch)
	}
	r.open[s][bh.id] = b
	return b, nil
}

// ingestAtomicBatch handles one message of an atomic batch, in nats-server's
// order of checks (stream.go processJetStreamAtomicBatchMsg). It
// returns the commit's outcome, or nil and no error for a staged
// message (answered with an empty reply). An error before the batch is
// looked up leaves the batch as it was (its next message then finds a
// gap); later errors drop it.
func (s *stream) ingestAtomicBatch(cfg *StreamConfig, bh *atomicHeaders, subj string, hdr, data []byte) (*atomicAck, *APIError) {
	a := s.api
	if a.limitsExceeded(cfg.Storage) {
		return nil, errInsufficientResources
	}
	if cfg.MaxMsgSize >= 0 && (len(hdr) > int(cfg.MaxMsgSize) || len(data) > int(cfg.MaxMsgSize)-len(hdr)) {
		return nil, errMessageExceedsMaximum
	}
	if !cfg.AllowAtomicPublish {
		return nil, errAtomicPublishDisabled
	}
	if len(bh.id) > maxBatchIDLen {
		return nil, errAtomicPublishInvalidID
	}
	if !bh.hasSeq {
		return nil, errAtomicPublishMissingSeq
	}
	r := &a.batches
	r.mu.Lock()
	// Again under the registry's lock: an update turning allow_atomic
	// off stores the new configuration, then drops the open batches
	// under this lock, so a message that read the old configuration
	// cannot open a batch that outlives the drop.
	if !s.snap.Load().cfg.AllowAtomicPublish {
		r.mu.Unlock()
		return nil, errAtomicPublishDisabled
	}
	b, e := a.openAtomicBatchLocked(s, bh)
	if e != nil {
		r.mu.Unlock()
		return nil, e
	}
	fail := func(e *APIError) (*atomicAck, *APIError) {
		r.dropLocked(a, s, b)
		r.mu.Unlock()
		return nil, e
	}
	if bh.badCommit {
		return fail(errAtomicPublishInvalidCommit)
	}
	if _, ok := wire.HeaderValue(hdr, hdrRequiredAPILevel); ok {
		if requiredAPILevelTooHigh(hdr, a.opts.APILevel) {
			return fail(errRequiredAPILevel)
		}
		hdr = removeHeader(hdr, hdrRequiredAPILevel)
	}
	lim := &a.opts.Batch
	if b.done || !b.timer.Reset(lim.Timeout) || uint64(len(b.msgs))+1 != bh.seq || (bh.seq == 1 && bh.eob) {
		return fail(errAtomicPublishIncomplete)
	}
	size := bh.seq
	if bh.eob {
		size--
	}
	if size > uint64(lim.MaxMsgs) {
		return fail(errAtomicPublishTooLargeF(lim.MaxMsgs))
	}
	if !bh.eob {
		n := int64(len(subj) + len(hdr) + len(data))
		// The account stages no further once its stored and staged
		// bytes pass its storage limit (a message is refused as a
		// single publish would be after those before it were stored):
		// a batch past it could never be stored (batch_commit.go).
		if limit := a.accountLimit(cfg.Storage); limit >= 0 && addSaturate(a.storeUsed(cfg.Storage), r.bytes.Load()) > limit {
			return fail(errInsufficientResources)
		}
		if total := lim.Inflight.bytes.Add(n); lim.MaxBytes > 0 && total > lim.MaxBytes {
			lim.Inflight.bytes.Add(-n)
			return fail(errAtomicPublishTooManyInflight)
		}
		b.bytes += n
		r.bytes.Add(n)
		// One allocation for the three parts; the caller's buffers
		// are valid only during the call.
		buf := make([]byte, 0, n)
		buf = append(append(append(buf, subj...), hdr...), data...)
		b.msgs = append(b.msgs, stagedAtomicMsg{
			subject: string(buf[:len(subj)]),
			hdr:     buf[len(subj) : len(subj)+len(hdr) : len(subj)+len(hdr)],
			data:    buf[len(subj)+len(hdr):],
		})
	}
	if !bh.commit {
		r.mu.Unlock()
		return nil, nil
	}
	// The commit: take the batch out of the registry (the timer can no
	// longer drop it) and store it outside the registry's lock. Its
	// bytes stay counted until the store has them: commits waiting for
	// the stream must not let new batches stage the budget again.
	msgs, held := b.msgs, b.bytes
	b.bytes = 0
	r.dropLocked(a, s, b)
	r.mu.Unlock()
	defer func() {
		lim.Inflight.bytes.Add(-held)
		r.bytes.Add(-held)
	}()
	return s.commitAtomicBatch(cfg, bh, msgs)
}

// removeHeader returns hdr without the lines of key.
func removeHeader(hdr []byte, key string) []byte {
	out := make([]byte, 0, len(hdr))
	rest := hdr
	if i := indexCRLF(rest); i >= 0 {
		out = append(out, rest[:i+2]...)
		rest = rest[i+2:]
	}
	for len(rest) > 0 {
		i := indexCRLF(rest)
		if i < 0 {
			out = append(out, rest...)
			break
		}
		line := rest[:i+2]
		rest = rest[i+2:]
		if len(line) > len(key) && string(line[:len(key)]) == key && line[len(key)] == ':' {
			continue
		}
		out = append(out, line...)
	}
	return out
}
