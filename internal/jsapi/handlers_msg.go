package jsapi

import (
	"errors"

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
	if err := s.barrier(); err != nil {
		a.respondError(req, typeMsgGet, ErrClusterUnavailable)
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
