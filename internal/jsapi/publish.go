package jsapi

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/cairn-db/cairn/internal/replica"
	"github.com/cairn-db/cairn/internal/store"
	"github.com/cairn-db/cairn/internal/subject"
	"github.com/cairn-db/cairn/internal/wire"
)

// ingest stores a message published on one of the stream's subjects and,
// when the publisher gave a reply subject, answers with a PubAck:
//
//	{"stream":"KV_b","seq":7}
//	{"stream":"KV_b","seq":7,"duplicate": true}
//	{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 6"},"stream":"KV_b","seq":0}
//
// Checks follow nats-server's order (stream.go processJetStreamMsg), the
// ones that need the stream's state being done by the store atomically
// with the write.
func (s *stream) ingest(subj, reply string, hdr, data []byte) {
	sn := s.snap.Load()
	cfg := &sn.cfg
	var start time.Time // metrics.go: KV writes are timed when observed
	op := OpPut
	if sn.kvPrefix != "" && observing() {
		start, op = time.Now(), kvWriteOp(hdr)
	}
	var res store.AppendResult
	var e *APIError
	var batch *atomicAck
	bh, isBatch := parseAtomicHeaders(hdr)
	switch {
	case sn.kvPrefix != "" && !validKVSubject(sn.kvPrefix, subj):
		e = errInvalidKey
	case isBatch:
		batch, e = s.ingestAtomicBatch(cfg, &bh, subj, hdr, data) // batch.go
	default:
		if aa, ok := s.st.(asyncAppender); ok {
			// A replicated stream: proposed now, acknowledged once
			// applied, so that many publishes are in flight at once.
			if s.storeAsync(aa, cfg, subj, hdr, data, func(res store.AppendResult, e *APIError) {
				// hdr and data are not read here: their buffers are
				// reused once ingest returned.
				s.acked(sn, reply, op, start, res, e)
			}) {
				return
			}
		}
		res, e = s.store(cfg, subj, hdr, data)
	}
	if isBatch {
		s.ackedBatch(sn, reply, op, start, batch, e)
		return
	}
	s.acked(sn, reply, op, start, res, e)
}

// acked records a publish's outcome and answers it with a PubAck.
func (s *stream) acked(sn *snapshot, reply string, op KVOp, start time.Time, res store.AppendResult, e *APIError) {
	cfg := &sn.cfg
	if !start.IsZero() {
		observeKV(op, resultOf(e), start)
	}
	observeError(e)
	if reply == "" || cfg.NoAck || e == errNoQuorum {
		// Without a quorum the write may still be applied later: no
		// answer, so that the publisher treats it as unknown (a
		// timeout), never as refused.
		return
	}
	var buf [128]byte
	var ack []byte
	if e != nil {
		ack = appendPubAckError(buf[:0], e, s.name)
	} else {
		ack = append(buf[:0], s.pubAckPrefix...)
		ack = strconv.AppendUint(ack, res.Seq, 10)
		if res.Duplicate {
			ack = append(ack, `,"duplicate": true`...)
		}
		ack = append(ack, '}')
	}
	s.api.bus.Publish(reply, "", nil, ack)
}

// ackedBatch is acked for a message of an atomic batch.
func (s *stream) ackedBatch(sn *snapshot, reply string, op KVOp, start time.Time, batch *atomicAck, e *APIError) {
	cfg := &sn.cfg
	if !start.IsZero() {
		observeKV(op, resultOf(e), start)
	}
	observeError(e)
	if reply == "" || cfg.NoAck {
		return
	}
	var buf [128]byte
	var ack []byte
	switch {
	case e != nil:
		ack = appendPubAckError(buf[:0], e, s.name)
	case batch == nil:
		// A staged message of a batch: an empty reply (nats-server's).
	default:
		ack = s.appendAtomicAck(buf[:0], batch)
	}
	s.api.bus.Publish(reply, "", nil, ack)
}

// validKVSubject reports whether subj, published into a KV bucket, names
// a valid key (nats.go's rules: letters, digits and "-/_=." with no empty
// token). nats-server would store any subject; Cairn keeps buckets
// readable by every client.
func validKVSubject(prefix, subj string) bool {
	return strings.HasPrefix(subj, prefix) && subject.ValidKey(subj[len(prefix):])
}

// asyncAppender is a store stream that can append without waiting
// (replica.Stream).
type asyncAppender interface {
	AppendAsync(subject string, hdr, data []byte, opts store.AppendOpts, done func(store.AppendResult, error))
}

// storeAsync checks one published message and proposes it, calling
// done with the outcome; false when the message needs the synchronous
// path (an expected last message id, whose check must not interleave
// with other appends).
func (s *stream) storeAsync(aa asyncAppender, cfg *StreamConfig, subj string, hdr, data []byte, done func(store.AppendResult, *APIError)) bool {
	opts, hdr, p, e := s.prepare(cfg, subj, hdr, data)
	if e == nil && p.expectedLastMsgID != "" {
		return false
	}
	if e != nil {
		done(store.AppendResult{}, e)
		return true
	}
	stored := storedBytes(cfg.Storage, subj, hdr, data) // the buffers are reused after the call
	aa.AppendAsync(subj, hdr, data, opts, func(res store.AppendResult, err error) {
		if err != nil {
			done(res, appendError(err))
			return
		}
		if !res.Duplicate {
			s.api.noteStoredBytes(cfg.Storage, stored)
		}
		done(res, nil)
	})
	return true
}

// prepare checks a published message and returns its append options
// and header (a TTL header may be rewritten).
func (s *stream) prepare(cfg *StreamConfig, subj string, hdr, data []byte) (store.AppendOpts, []byte, pubHeaders, *APIError) {
	var opts store.AppendOpts
	if cfg.MaxMsgSize >= 0 && (len(hdr) > int(cfg.MaxMsgSize) || len(data) > int(cfg.MaxMsgSize)-len(hdr)) {
		return opts, hdr, pubHeaders{}, errMessageExceedsMaximum
	}
	if len(hdr) > math.MaxUint16 {
		return opts, hdr, pubHeaders{}, errHeaderExceedsMaximum
	}
	if s.api.limitsExceeded(cfg.Storage) {
		return opts, hdr, pubHeaders{}, errInsufficientResources
	}
	p := parsePubHeaders(hdr)
	if p.unsupported != nil {
		return opts, hdr, p, p.unsupported
	}
	opts = store.AppendOpts{
		ExpectedStream:             p.expectedStream,
		ExpectedLastSeq:            p.expectedLastSeq,
		HasExpectedLastSeq:         p.hasLastSeq,
		ExpectedLastSubjSeq:        p.expectedLastSubj,
		HasExpectedLastSubjSeq:     p.hasLastSubj,
		ExpectedLastSubjSeqSubject: p.expectedSubjSubj,
		MsgID:                      p.msgID,
	}
	if p.expectedSubjSubj != "" && !p.hasLastSubj {
		return opts, hdr, p, errLastSeqPerSubjInvalid
	}
	if e := rollupOpt(cfg, p.rollup, &opts); e != nil {
		return opts, hdr, p, e
	}
	var e *APIError
	if opts.TTL, hdr, e = ttlOpt(cfg, p, hdr); e != nil {
		return opts, hdr, p, e
	}
	return opts, hdr, p, nil
}

// store checks and appends one published message.
func (s *stream) store(cfg *StreamConfig, subj string, hdr, data []byte) (store.AppendResult, *APIError) {
	opts, hdr, p, e := s.prepare(cfg, subj, hdr, data)
	if e != nil {
		return store.AppendResult{}, e
	}
	exclusive := p.expectedLastMsgID != ""
	if exclusive {
		s.pubMu.Lock()
		defer s.pubMu.Unlock()
		if last := s.lastID(); last != p.expectedLastMsgID {
			return store.AppendResult{}, errWrongLastMsgIDF(last)
		}
	} else {
		s.pubMu.RLock()
		defer s.pubMu.RUnlock()
	}
	res, err := s.st.Append(subj, hdr, data, opts)
	if err != nil {
		return res, appendError(err)
	}
	if !res.Duplicate {
		s.api.noteStored(cfg.Storage, subj, hdr, data)
	}
	return res, nil
}

// rollupOpt validates a Nats-Rollup header against the configuration.
func rollupOpt(cfg *StreamConfig, rollup string, opts *store.AppendOpts) *APIError {
	if rollup == "" {
		return nil
	}
	if !cfg.AllowRollup || cfg.DenyPurge {
		return errRollupFailedF("rollup not permitted")
	}
	switch rollup {
	case rollupSubject:
		opts.Rollup = store.RollupSubject
	case rollupAll:
		opts.Rollup = store.RollupAll
	default:
		return errRollupFailedF("rollup value invalid: " + strconv.Quote(rollup))
	}
	return nil
}

// ttlOpt turns a Nats-TTL header into the append's TTL (ADR-43). With
// subject delete markers on, a TTL shorter than the marker TTL is raised
// to it (and the header rewritten), unless the stream keeps one message
// per subject, so that a marker cannot be missed.
func ttlOpt(cfg *StreamConfig, p pubHeaders, hdr []byte) (time.Duration, []byte, *APIError) {
	if !p.hasTTL {
		return 0, hdr, nil
	}
	// A TTL on a stream without TTLs is refused by the store, in
	// nats-server's order of checks.
	ttl, ok := parseTTL(p.ttl)
	if !ok {
		return 0, hdr, errMessageTTLInvalid
	}
	if sdm := clampDuration(cfg.SubjectDeleteMarkerTTL).Truncate(time.Second); ttl > 0 && sdm > 0 && cfg.MaxMsgsPer != 1 && ttl < sdm {
		ttl = sdm
		hdr = replaceHeader(hdr, hdrTTL, strconv.FormatInt(int64(sdm/time.Second), 10))
	}
	return ttl, hdr, nil
}

// replaceHeader returns a copy of hdr with key's line removed and
// "key: value" appended.
func replaceHeader(hdr []byte, key, value string) []byte {
	out := make([]byte, 0, len(hdr)+len(key)+len(value)+4)
	out = append(out, hdrLine...)
	rest := hdr
	if i := indexCRLF(rest); i >= 0 {
		rest = rest[i+2:]
	}
	for len(rest) > 2 {
		i := indexCRLF(rest)
		if i < 0 {
			break
		}
		line := rest[:i]
		rest = rest[i+2:]
		if len(line) > len(key) && string(line[:len(key)]) == key && line[len(key)] == ':' {
			continue
		}
		out = append(out, line...)
		out = append(out, "\r\n"...)
	}
	out = appendHeaderLine(out, key, value)
	return append(out, "\r\n"...)
}

func indexCRLF(b []byte) int {
	for i := 0; i+1 < len(b); i++ {
		if b[i] == '\r' && b[i+1] == '\n' {
			return i
		}
	}
	return -1
}

// appendError translates a store error into the wire error nats-server
// gives for it.
func appendError(err error) *APIError {
	var wrong *store.WrongSequenceError
	switch {
	case errors.Is(err, replica.ErrNoQuorum):
		return errNoQuorum
	case errors.Is(err, replica.ErrBusy):
		return errBusy
	case errors.As(err, &wrong):
		return errWrongLastSequenceF(wrong.Last)
	case errors.Is(err, store.ErrWrongStream):
		return errStreamNotMatch
	case errors.Is(err, store.ErrMsgTTLDisabled):
		return errMessageTTLDisabled
	case errors.Is(err, store.ErrMaxMsgSize):
		return errMessageExceedsMaximum
	case errors.Is(err, store.ErrMaxBytes):
		return errStoreFailedF("maximum bytes exceeded")
	case errors.Is(err, store.ErrMaxMsgs):
		return errStoreFailedF("maximum messages exceeded")
	case errors.Is(err, store.ErrMaxMsgsPerSubject):
		return errStoreFailedF("maximum messages per subject exceeded")
	case errors.Is(err, store.ErrSeqOverflow):
		return errSeqExhausted
	}
	return errStoreFailedF(err.Error())
}

// appendPubAckError renders an error PubAck.
func appendPubAckError(b []byte, e *APIError, stream string) []byte {
	b = append(b, `{"error":{"code":`...)
	b = strconv.AppendInt(b, int64(e.Code), 10)
	b = append(b, `,"err_code":`...)
	b = strconv.AppendUint(b, uint64(e.ErrCode), 10)
	b = append(b, `,"description":`...)
	b = appendJSONString(b, e.Description)
	b = append(b, `},"stream":`...)
	b = appendJSONString(b, stream)
	return append(b, `,"seq":0}`...)
}

// appendJSONString appends s as a JSON string, as encoding/json writes
// it (nats-server's encoding). strconv.Quote is not JSON: it writes
// control characters and invalid UTF-8 as \x01, \a or \xff.
func appendJSONString(b []byte, s string) []byte {
	q, err := json.Marshal(s)
	if err != nil { // a string always marshals
		return append(b, `""`...)
	}
	return append(b, q...)
}

// lastID returns the message id of the last stored message.
func (s *stream) lastID() string {
	s.lastMsgID.Lock()
	defer s.lastMsgID.Unlock()
	return s.lastMsgID.id
}

// stored is called by the store after each stored message, in sequence
// order, including the limit markers the store writes itself. It
// remembers the last message id and republishes.
func (s *stream) stored(m *store.Msg) {
	id := ""
	if len(m.Header) > 0 {
		id, _ = wire.HeaderValue(m.Header, hdrMsgID)
	}
	s.lastMsgID.Lock()
	s.lastMsgID.id = id
	s.lastMsgID.Unlock()

	if rp := s.snap.Load().repub; rp != nil {
		rp.publish(s.api.bus, s.name, m)
	}
}
