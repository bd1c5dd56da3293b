package jsapi

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"

	"github.com/cairn-db/cairn/internal/store"
	"github.com/cairn-db/cairn/internal/subject"
)

// msgStreamName returns the stream of $JS.API.STREAM.MSG.GET.<stream>.
func msgStreamName(subj string) string { return token(subj, 5) }

// msgGet answers $JS.API.STREAM.MSG.GET.<stream>: one message by
// sequence, last by subject, or next by subject, as base64 JSON.
func (a *API) msgGet(req *request) {
	if !a.checkLevel(req, typeMsgGet) {
		return
	}
	if isEmptyRequest(req.data) {
		a.respondError(req, typeMsgGet, errBadRequest)
		return
	}
	var gr msgGetRequest
	if err := decodeRequest(req.data, &gr); err != nil {
		a.respondError(req, typeMsgGet, errInvalidJSONF(err))
		return
	}
	if gr.Batch > 0 || gr.MaxBytes > 0 || badSelection(&gr) {
		a.respondError(req, typeMsgGet, errBadRequest)
		return
	}
	s := a.lookup(msgStreamName(req.subject))
	if s == nil {
		a.respondError(req, typeMsgGet, errStreamNotFound)
		return
	}
	start := s.kvStart()
	m, err := s.load(&gr)
	observeGet(start, err)
	if err != nil {
		a.respondError(req, typeMsgGet, errNoMessageFound)
		return
	}
	sm := &storedMsg{Subject: m.Subject, Sequence: m.Seq, Data: m.Data, Time: wireTime(m.Time)}
	if !gr.NoHeaders {
		sm.Header = m.Header
	}
	a.respond(req, &msgGetResponse{apiResponse: apiResponse{Type: typeMsgGet}, Message: sm}, false)
}

// badSelection reports a request that selects no message or several
// ways at once.
func badSelection(gr *msgGetRequest) bool {
	return (gr.Seq > 0 && gr.LastFor != "") ||
		(gr.Seq == 0 && gr.LastFor == "" && gr.NextFor == "" && gr.StartTime == nil) ||
		(gr.Seq > 0 && gr.StartTime != nil) ||
		(gr.StartTime != nil && gr.LastFor != "") ||
		(gr.LastFor != "" && gr.NextFor != "")
}

// load returns the single message a get request selects.
func (s *stream) load(gr *msgGetRequest) (*store.Msg, error) {
	seq := gr.Seq
	if gr.StartTime != nil {
		seq = s.seqFromTime(unixNanos(*gr.StartTime))
	}
	switch {
	case gr.NextFor != "":
		return s.st.GetNext(gr.NextFor, seq)
	case gr.LastFor != "":
		return s.lastFor(gr.LastFor)
	default:
		return s.st.Get(seq)
	}
}

// seqFromTime returns the sequence of the first message stored at or
// after ns (Unix nanoseconds), or the last sequence plus one: a binary
// search in the store.
func (s *stream) seqFromTime(ns int64) uint64 {
	return s.st.SeqForTime(ns)
}

// lastFor returns the last message of a subject, which may hold
// wildcards (the newest message of any matching subject); the store's
// work follows the matching subjects, not the stream.
func (s *stream) lastFor(filter string) (*store.Msg, error) {
	if !subject.HasWildcard(filter) {
		return s.st.GetLast(filter)
	}
	return s.st.LastMatching(filter)
}

// msgDelete answers $JS.API.STREAM.MSG.DELETE.<stream> {"seq":N}.
func (a *API) msgDelete(req *request) {
	if !a.checkLevel(req, typeMsgDelete) {
		return
	}
	if isEmptyRequest(req.data) {
		a.respondError(req, typeMsgDelete, errBadRequest)
		return
	}
	var dr msgDeleteRequest
	if err := decodeRequest(req.data, &dr); err != nil {
		a.respondError(req, typeMsgDelete, errInvalidJSONF(err))
		return
	}
	s := a.lookup(msgStreamName(req.subject))
	if s == nil {
		a.respondError(req, typeMsgDelete, errStreamNotFound)
		return
	}
	if s.config().DenyDelete {
		a.respondError(req, typeMsgDelete, errMsgDeleteFailedF(errors.New("message delete not permitted")))
		return
	}
	switch err := s.st.Delete(dr.Seq); {
	case errors.Is(err, store.ErrNotFound):
		a.respondError(req, typeMsgDelete, s.deleteNotFound(dr.Seq))
	case err != nil:
		a.respondError(req, typeMsgDelete, errMsgDeleteFailedF(err))
	default:
		a.respond(req, &successResponse{apiResponse: apiResponse{Type: typeMsgDelete}, Success: true}, false)
	}
}

// deleteNotFound is the error for deleting a missing message, which in
// nats-server depends on the storage type: the memory store reports the
// sequence, the file store a store error.
func (s *stream) deleteNotFound(seq uint64) *APIError {
	switch {
	case s.config().Storage == StorageMemory:
		return errSequenceNotFoundF(seq)
	case seq > s.st.State().LastSeq:
		return errMsgDeleteFailedF(errors.New("stream store EOF"))
	default:
		return errMsgDeleteFailedF(errors.New("no message found"))
	}
}

// Status-only answers of DIRECT.GET (ADR-31).
var (
	statusNotFound      = statusHeader(404, "Message Not Found")
	statusEmptyRequest  = statusHeader(408, "Empty Request")
	statusMalformed     = statusHeader(408, "Malformed Request")
	statusBadRequest    = statusHeader(408, "Bad Request")
	statusRequiredLevel = statusHeader(412, "Required Api Level")
)

// directGet answers $JS.API.DIRECT.GET.<stream> with a JSON request
// body: the message itself with the stream headers added, or a
// status-only message.
func (s *stream) directGet(_, reply string, hdr, data []byte) {
	if reply == "" {
		return
	}
	bus := s.api.bus
	switch {
	case requiredAPILevelTooHigh(hdr, s.api.opts.APILevel):
		bus.Publish(reply, "", statusRequiredLevel, nil)
		return
	case len(data) == 0:
		bus.Publish(reply, "", statusEmptyRequest, nil)
		return
	}
	var gr msgGetRequest
	if err := json.Unmarshal(data, &gr); err != nil {
		bus.Publish(reply, "", statusMalformed, nil)
		return
	}
	hasMulti := present(gr.MultiLast)
	switch {
	case gr.Seq == 0 && gr.LastFor == "" && gr.NextFor == "" && !hasMulti && gr.StartTime == nil:
		bus.Publish(reply, "", statusEmptyRequest, nil)
		return
	case conflicting(&gr, hasMulti), gr.UpToTime != nil, hasMulti:
		// Multi-subject batches are not implemented.
		bus.Publish(reply, "", statusBadRequest, nil)
		return
	}
	if gr.Batch > 0 {
		s.directBatch(reply, &gr)
		return
	}
	start := s.kvStart()
	m, err := s.load(&gr)
	observeGet(start, err)
	if err != nil {
		bus.Publish(reply, "", statusNotFound, nil)
		return
	}
	s.sendDirect(reply, m, gr.NoHeaders, nil)
}

// conflicting reports the option combinations nats-server refuses.
func conflicting(gr *msgGetRequest, hasMulti bool) bool {
	return (gr.Seq > 0 && gr.LastFor != "") ||
		(gr.Seq > 0 && gr.StartTime != nil) ||
		(gr.StartTime != nil && gr.LastFor != "") ||
		(gr.LastFor != "" && gr.NextFor != "") ||
		(gr.LastFor != "" && gr.Batch > 0) ||
		(gr.LastFor != "" && hasMulti) ||
		(gr.NextFor != "" && hasMulti) ||
		(gr.UpToSeq > 0 && gr.UpToTime != nil)
}

// directGetLast answers $JS.API.DIRECT.GET.<stream>.<subject>: the last
// message of the subject named in the request subject. nats.go's and
// natscli's KV Get use it with an empty body.
func (s *stream) directGetLast(subj, reply string, hdr, data []byte) {
	if reply == "" {
		return
	}
	bus := s.api.bus
	if requiredAPILevelTooHigh(hdr, s.api.opts.APILevel) {
		bus.Publish(reply, "", statusRequiredLevel, nil)
		return
	}
	var gr msgGetRequest
	if len(data) > 0 && json.Unmarshal(data, &gr) != nil {
		bus.Publish(reply, "", statusMalformed, nil)
		return
	}
	key := subj[len(directGetPrefix)+len(s.name)+1:]
	if key == "" || gr.LastFor != "" || gr.NextFor != "" || present(gr.MultiLast) || gr.Seq != 0 ||
		gr.Batch != 0 || gr.StartTime != nil || gr.UpToSeq != 0 || gr.UpToTime != nil {
		bus.Publish(reply, "", statusBadRequest, nil)
		return
	}
	start := s.kvStart()
	m, err := s.lastFor(key)
	observeGet(start, err)
	if err != nil {
		bus.Publish(reply, "", statusNotFound, nil)
		return
	}
	s.sendDirect(reply, m, gr.NoHeaders, nil)
}

// sendDirect answers with m, its headers extended by the stream headers
// (and, for batches, extra lines such as Nats-Num-Pending).
func (s *stream) sendDirect(reply string, m *store.Msg, noHeaders bool, extra func([]byte) []byte) {
	var hdr []byte
	if !noHeaders {
		var buf [256]byte
		hdr = appendStreamHeaders(buf[:0], m, s.name)
		if extra != nil {
			hdr = extra(hdr)
		}
		hdr = append(hdr, "\r\n"...)
	}
	s.api.bus.Publish(reply, "", hdr, m.Data)
}

// defaultBatchBytes bounds a batch without max_bytes.
const defaultBatchBytes = 64 << 20

// directBatch answers a batch request: up to Batch messages from Seq
// (matching NextFor when given), each with Nats-Num-Pending and
// Nats-Last-Sequence, then a "204 EOB" status message.
func (s *stream) directBatch(reply string, gr *msgGetRequest) {
	filter := gr.NextFor
	seq := gr.Seq
	if gr.StartTime != nil {
		seq = s.seqFromTime(unixNanos(*gr.StartTime))
	}
	pending := s.st.NumPending(filter, seq, false)
	maxBytes := gr.MaxBytes
	if maxBytes <= 0 {
		maxBytes = defaultBatchBytes
	}
	sentBytes := 0
	var last uint64
	for i := 0; i < gr.Batch; i++ {
		m, err := s.st.GetNext(filter, seq)
		if err != nil {
			if i == 0 {
				s.api.bus.Publish(reply, "", statusNotFound, nil)
				return
			}
			break
		}
		if pending > 0 {
			pending--
		}
		np, ls := pending, last
		s.sendDirect(reply, m, gr.NoHeaders, func(b []byte) []byte {
			b = appendHeaderLine(b, hdrNumPending, strconv.FormatUint(np, 10))
			return appendHeaderLine(b, hdrLastSeq, strconv.FormatUint(ls, 10))
		})
		last = m.Seq
		if m.Seq == math.MaxUint64 {
			break // no sequence after it: seq+1 would wrap to the start
		}
		seq = m.Seq + 1
		if sentBytes += len(m.Subject) + len(m.Header) + len(m.Data); sentBytes >= maxBytes {
			break
		}
	}
	eob := append([]byte("NATS/1.0 204 EOB\r\n"), hdrNumPending+": "...)
	var left uint64
	if last != math.MaxUint64 {
		left = s.st.NumPending(filter, seq, false)
	}
	eob = strconv.AppendUint(eob, left, 10)
	eob = append(eob, "\r\n"+hdrLastSeq+": "...)
	eob = strconv.AppendUint(eob, last, 10)
	eob = append(eob, "\r\n\r\n"...)
	s.api.bus.Publish(reply, "", eob, nil)
}
