package jsapi

import (
	"errors"
	"math"
	"strconv"

	"github.com/cairn-db/cairn/internal/replica"
	"github.com/cairn-db/cairn/internal/store"
	"github.com/cairn-db/cairn/internal/wire"
)

// atomicAck is a committed batch: the PubAck
// {"stream":"S","seq":<last>,"batch":"<id>","count":N}.
type atomicAck struct {
	last  uint64
	id    string
	count int
}

// commitAtomicBatch checks the staged messages of a committed batch and
// stores them as one write. The checks are nats-server's, message by
// message (jetstream_batching.go checkMsgHeadersPreClusteredProposal):
// those that need the stream's state are made by the store, the others
// here, handed to the store in their place (store.BatchMsg.Refuse and
// RefuseLate) so that the first failing check is the one nats-server
// reports.
func (s *stream) commitAtomicBatch(cfg *StreamConfig, bh *atomicHeaders, staged []stagedAtomicMsg) (*atomicAck, *APIError) {
	ba, ok := s.st.(store.BatchAppender)
	if !ok {
		return nil, errAtomicPublishDisabled
	}
	msgs := make([]store.BatchMsg, len(staged))
	for i := range staged {
		sm := &staged[i]
		hdr := sm.hdr
		if bh.eob && i == len(staged)-1 {
			// The end marker is not stored; the last message carries
			// the commit header instead.
			hdr = appendHeaderToBlock(hdr, hdrBatchCommit, "1")
		}
		msgs[i] = s.atomicBatchMsg(cfg, sm.subject, hdr, sm.data)
	}
	// The account's and the server's storage limits, as the messages
	// would meet them one by one: the batch passes when its last
	// message would, counting those before it as stored (a single
	// publish is checked before it is stored, so it may pass a limit
	// by itself, and so may the batch's last message, no more).
	var before int64
	for i := range msgs[:len(msgs)-1] {
		before += storedBytes(cfg.Storage, msgs[i].Subject, msgs[i].Header, msgs[i].Data)
	}
	if before > 0 && s.api.limitsExceededBy(cfg.Storage, before) {
		return nil, errInsufficientResources
	}
	s.pubMu.RLock()
	res, err := ba.AppendBatch(msgs)
	s.pubMu.RUnlock()
	if err != nil {
		return nil, atomicBatchError(err)
	}
	for i := range msgs {
		s.api.noteStored(cfg.Storage, msgs[i].Subject, msgs[i].Header, msgs[i].Data)
	}
	return &atomicAck{last: res.Last, id: bh.id, count: len(staged)}, nil
}

// batchMsg turns one staged message into a store batch message with the
// outcome of the header checks that need no stream state.
func (s *stream) atomicBatchMsg(cfg *StreamConfig, subj string, hdr, data []byte) store.BatchMsg {
	m := store.BatchMsg{Subject: subj, Header: hdr, Data: data}
	if _, ok := wire.HeaderValue(hdr, hdrExpectedLastMsgID); ok {
		m.Refuse = errAtomicPublishUnsupportedHeaderF(hdrExpectedLastMsgID)
		return m
	}
	if len(hdr) > math.MaxUint16 {
		m.Refuse = errHeaderExceedsMaximum
		return m
	}
	p := parsePubHeaders(hdr)
	switch {
	case hasHeader(hdr, hdrIncr):
		m.Refuse = errCountersDisabled
	case p.expectedStream != "" && p.expectedStream != cfg.Name:
		m.Refuse = errStreamNotMatch
	case p.hasTTL && !cfg.AllowMsgTTL:
		m.Refuse = errMessageTTLDisabled
	}
	if m.Refuse != nil {
		return m
	}
	var e *APIError
	if m.TTL, m.Header, e = ttlOpt(cfg, p, hdr); e != nil {
		m.Refuse = e
		return m
	}
	m.MsgID = p.msgID
	m.ExpectedLastSeq, m.HasExpectedLastSeq = p.expectedLastSeq, p.hasLastSeq
	m.ExpectedLastSubjSeq, m.HasExpectedLastSubjSeq = p.expectedLastSubj, p.hasLastSubj
	m.ExpectedLastSubjSeqSubject = p.expectedSubjSubj
	switch {
	case hasHeader(hdr, hdrStreamSource):
		m.RefuseLate = errSourceHeaderForbidden
	case p.expectedSubjSubj != "" && !p.hasLastSubj:
		m.RefuseLate = errLastSeqPerSubjInvalid
	case hasHeader(hdr, hdrSchedule):
		m.RefuseLate = errSchedulesDisabled
	case hasHeader(hdr, hdrFastBatch):
		m.RefuseLate = errBatchPublishDisabled
	}
	if m.RefuseLate != nil {
		return m
	}
	var opts store.AppendOpts
	if e := rollupOpt(cfg, p.rollup, &opts); e != nil {
		m.RefuseLate = e
		return m
	}
	m.Rollup = opts.Rollup
	return m
}

func hasHeader(hdr []byte, key string) bool {
	_, ok := wire.HeaderValue(hdr, key)
	return ok
}

// appendHeaderToBlock returns a copy of the header block hdr (or a new
// block) with "key: value" added as its last line.
func appendHeaderToBlock(hdr []byte, key, value string) []byte {
	if len(hdr) < len(hdrLine) {
		hdr = []byte(hdrLine + "\r\n")
	}
	body := hdr[:len(hdr)-2] // without the final blank line
	out := make([]byte, 0, len(hdr)+len(key)+len(value)+4)
	out = append(out, body...)
	out = appendHeaderLine(out, key, value)
	return append(out, "\r\n"...)
}

// batchError translates the store's refusal of a batch into the wire
// error nats-server gives.
func atomicBatchError(err error) *APIError {
	var e *APIError
	var refusal *replica.Refusal
	var wrong *store.WrongSequenceError
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &refusal):
		return &APIError{refusal.Code, refusal.ErrCode, refusal.Description}
	case errors.Is(err, store.ErrBatchDuplicateMsgID):
		return errAtomicPublishDuplicateMsgID
	case errors.Is(err, store.ErrBatchExpectation):
		return errWrongLastSequenceConstant
	case errors.Is(err, store.ErrBatchRollupSubject):
		return errRollupFailedF("batch rollup sub invalid")
	case errors.Is(err, store.ErrBatchRollupAll):
		return errRollupFailedF("batch rollup all invalid")
	case errors.As(err, &wrong):
		return errWrongLastSequenceF(wrong.Last)
	}
	return appendError(err)
}

// appendAtomicAck renders the commit's PubAck.
func (s *stream) appendAtomicAck(b []byte, ack *atomicAck) []byte {
	b = append(b, s.pubAckPrefix...)
	b = strconv.AppendUint(b, ack.last, 10)
	b = append(b, `,"batch":`...)
	b = appendJSONString(b, ack.id)
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, int64(ack.count), 10)
	return append(b, '}')
}
