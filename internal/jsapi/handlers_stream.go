package jsapi

import (
	"errors"
	"slices"
	"strings"

	"github.com/cairn-db/cairn/internal/store"
	"github.com/cairn-db/cairn/internal/subject"
)

// streamName returns the stream name of an API subject such as
// $JS.API.STREAM.INFO.<stream> (token 4).
func streamName(subj string) string { return token(subj, 4) }

// streamCreate answers $JS.API.STREAM.CREATE.<stream>.
func (a *API) streamCreate(req *request) {
	if !a.checkLevel(req, typeStreamCreate) {
		return
	}
	var cr streamConfigRequest
	if err := decodeRequest(req.data, &cr); err != nil {
		a.respondError(req, typeStreamCreate, errInvalidJSONF(err))
		return
	}
	name := streamName(req.subject)
	switch {
	case name != cr.Name:
		a.respondError(req, typeStreamCreate, errStreamMismatch)
		return
	case strings.ContainsAny(name, `\/`):
		a.respondError(req, typeStreamCreate, errNameHasPathSeparators)
		return
	case cr.Sealed:
		a.respondError(req, typeStreamCreate, errInvalidConfigF("stream configuration for create can not be sealed"))
		return
	case cr.MirrorDirect && !present(cr.Mirror):
		a.respondError(req, typeStreamCreate, errInvalidConfigF("stream has no mirror but does have mirror direct"))
		return
	}
	cfg, e := normalizeAs(cr.StreamConfig, a.opts.Replicate != nil)
	if e == nil {
		e = a.checkStreamCaller(req, &cfg)
	}
	if e != nil {
		a.respondError(req, typeStreamCreate, e)
		return
	}
	s, e := a.createStream(cfg)
	if e != nil {
		a.respondError(req, typeStreamCreate, e)
		return
	}
	s.waitLeader()
	// did_create is set even when an identical stream already existed,
	// as nats-server does.
	a.respond(req, &streamCreateResponse{
		apiResponse: apiResponse{Type: typeStreamCreate},
		StreamInfo:  s.info(true),
		DidCreate:   true,
	}, false)
}

// streamUpdate answers $JS.API.STREAM.UPDATE.<stream>.
func (a *API) streamUpdate(req *request) {
	if !a.checkLevel(req, typeStreamUpdate) {
		return
	}
	var cr streamConfigRequest
	if err := decodeRequest(req.data, &cr); err != nil {
		a.respondError(req, typeStreamUpdate, errInvalidJSONF(err))
		return
	}
	cfg, e := normalizeAs(cr.StreamConfig, a.opts.Replicate != nil)
	if e == nil && streamName(req.subject) != cfg.Name {
		e = errStreamMismatch
	}
	if e == nil {
		e = a.checkStreamCaller(req, &cfg)
	}
	if e != nil {
		a.respondError(req, typeStreamUpdate, e)
		return
	}
	s, e := a.updateStream(cfg)
	if e != nil {
		a.respondError(req, typeStreamUpdate, e)
		return
	}
	a.respond(req, &streamCreateResponse{
		apiResponse: apiResponse{Type: typeStreamUpdate},
		StreamInfo:  s.info(true),
	}, false)
}

// checkStreamCaller applies the reply rule of internal/server to what a
// stream does on its configurer's behalf for as long as it lives
// (nats-server 2.15.2 checks neither):
//   - its subjects are a subscription: every message published on them
//     is stored for whoever may read the stream, so each must be a
//     subject the requester may receive with no delivery filter;
//   - its republish destination is a publish after every write, so the
//     requester must be allowed to publish to every subject of it.
//
// What the stream already has is not checked again, so that anyone
// allowed to update the stream can resubmit the configuration an
// operator gave it.
func (a *API) checkStreamCaller(req *request, cfg *StreamConfig) *APIError {
	if req.caller == nil {
		return nil
	}
	var old StreamConfig
	if s := a.lookup(cfg.Name); s != nil {
		old = s.config()
	}
	for _, subj := range cfg.Subjects {
		if ownKVSubjects(cfg.Name, subj) {
			// A bucket's own namespace, as nats.go and natscli create
			// it: what is published there is the bucket, so it captures
			// nothing from anyone else, and whoever may create the
			// bucket may give it its subjects (as with nats-server: a
			// bucket admin needs no subscribe permission on them).
			continue
		}
		if !slices.Contains(old.Subjects, subj) && !req.caller.MaySubscribeAll(subj) {
			return errCaptureNotPermittedF(subj)
		}
	}
	rp := cfg.RePublish
	if rp == nil {
		return nil
	}
	if o := old.RePublish; o != nil && o.Source == rp.Source && o.Destination == rp.Destination {
		return nil
	}
	if !req.caller.MayPublishAll(destPattern(rp.Destination)) {
		return errRepublishNotPermittedF(rp.Destination)
	}
	return nil
}

// streamInfo answers $JS.API.STREAM.INFO.<stream>, with per-subject
// counts when subjects_filter is given and deleted sequences when
// deleted_details is set.
func (a *API) streamInfo(req *request) {
	resp := &streamInfoResponse{apiResponse: apiResponse{Type: typeStreamInfo}}
	fail := func(e *APIError) {
		resp.Error = e
		a.respond(req, resp, true)
	}
	if requiredAPILevelTooHigh(req.hdr, a.opts.APILevel) {
		fail(errRequiredAPILevel)
		return
	}
	var ir streamInfoRequest
	if isJSONObjectOrArray(req.data) {
		if err := decodeRequest(req.data, &ir); err != nil {
			fail(errInvalidJSONF(err))
			return
		}
	}
	s := a.lookup(streamName(req.subject))
	if s == nil {
		fail(errStreamNotFound)
		return
	}
	if err := s.barrier(); err != nil {
		fail(ErrClusterUnavailable)
		return
	}
	resp.StreamInfo = s.info(true)
	resp.StreamInfo.Cluster = s.clusterInfo()
	if ir.DeletedDetails {
		resp.StreamInfo.State.Deleted = s.deleted()
	}
	if ir.SubjectsFilter != "" {
		s.subjectDetail(resp, ir.SubjectsFilter, max(ir.Offset, 0))
	}
	a.respond(req, resp, false)
}

// subjectDetail fills in the per-subject message counts, one page of
// maxSubjectDetails subjects in name order from offset.
func (s *stream) subjectDetail(resp *streamInfoResponse, filter string, offset int) {
	counts := s.st.SubjectsState(filter)
	if len(counts) == 0 {
		return
	}
	resp.Total, resp.Offset, resp.Limit = len(counts), offset, maxSubjectDetails
	if offset == 0 && len(counts) <= maxSubjectDetails {
		resp.StreamInfo.State.Subjects = counts
		return
	}
	names := make([]string, 0, len(counts))
	for subj := range counts {
		names = append(names, subj)
	}
	slices.Sort(names)
	lo, hi := page(len(names), offset, maxSubjectDetails)
	if lo == hi {
		return
	}
	resp.StreamInfo.State.Subjects = make(map[string]uint64, hi-lo)
	for _, subj := range names[lo:hi] {
		resp.StreamInfo.State.Subjects[subj] = counts[subj]
	}
}

// deletedPage is how many deleted sequences one store call lists: the
// stream's read lock is held for that much work at a time, however many
// gaps the stream has.
const deletedPage = 10_000

// deleted lists the interior sequences that no longer hold a message,
// all of them as nats-server does, a page at a time from the store.
func (s *stream) deleted() []uint64 {
	var out []uint64
	for from := uint64(0); ; {
		page, next := s.st.DeletedSeqs(from, deletedPage)
		out = append(out, page...)
		if next == 0 || next <= from {
			return out
		}
		from = next
	}
}

// streamDelete answers $JS.API.STREAM.DELETE.<stream>.
func (a *API) streamDelete(req *request) {
	if !a.checkLevel(req, typeStreamDelete) {
		return
	}
	if !isEmptyRequest(req.data) {
		a.respondError(req, typeStreamDelete, errNotEmptyRequest)
		return
	}
	if e := a.deleteStream(streamName(req.subject)); e != nil {
		a.respondError(req, typeStreamDelete, e)
		return
	}
	a.respond(req, &successResponse{apiResponse: apiResponse{Type: typeStreamDelete}, Success: true}, false)
}

// filteredStreams returns the streams (sorted by name) with a subject
// that overlaps filter, or all streams when filter is empty.
func (a *API) filteredStreams(filter string) []*stream {
	a.mu.RLock()
	out := make([]*stream, 0, len(a.mu.streams))
	for _, s := range a.mu.streams {
		if filter == "" || slices.ContainsFunc(s.config().Subjects, func(subj string) bool {
			return subject.Overlap(filter, subj)
		}) {
			out = append(out, s)
		}
	}
	a.mu.RUnlock()
	slices.SortFunc(out, func(x, y *stream) int { return strings.Compare(x.name, y.name) })
	return out
}

// listRequest decodes the optional {"offset":N,"subject":"f"} body of
// STREAM.NAMES and STREAM.LIST.
func listRequest(data []byte) (streamListRequest, *APIError) {
	var lr streamListRequest
	if isJSONObjectOrArray(data) {
		if err := decodeRequest(data, &lr); err != nil {
			return lr, errInvalidJSONF(err)
		}
	}
	lr.Offset = max(lr.Offset, 0)
	return lr, nil
}

// streamNames answers $JS.API.STREAM.NAMES.
func (a *API) streamNames(req *request) {
	if !a.checkLevel(req, typeStreamNames) {
		return
	}
	lr, e := listRequest(req.data)
	if e != nil {
		a.respondError(req, typeStreamNames, e)
		return
	}
	streams := a.filteredStreams(lr.Subject)
	lo, hi := page(len(streams), lr.Offset, namesLimit)
	resp := &streamNamesResponse{
		apiResponse: apiResponse{Type: typeStreamNames},
		apiPaged:    apiPaged{Total: len(streams), Offset: lo, Limit: namesLimit},
	}
	for _, s := range streams[lo:hi] {
		resp.Streams = append(resp.Streams, s.name)
	}
	a.respond(req, resp, false)
}

// streamList answers $JS.API.STREAM.LIST.
func (a *API) streamList(req *request) {
	if !a.checkLevel(req, typeStreamList) {
		return
	}
	lr, e := listRequest(req.data)
	if e != nil {
		a.respondError(req, typeStreamList, e)
		return
	}
	streams := a.filteredStreams(lr.Subject)
	lo, hi := page(len(streams), lr.Offset, listLimit)
	resp := &streamListResponse{
		apiResponse: apiResponse{Type: typeStreamList},
		apiPaged:    apiPaged{Total: len(streams), Offset: lo, Limit: listLimit},
		Streams:     []*StreamInfo{},
	}
	for _, s := range streams[lo:hi] {
		resp.Streams = append(resp.Streams, s.info(false))
	}
	a.respond(req, resp, false)
}

// streamPurge answers $JS.API.STREAM.PURGE.<stream> with an optional
// body {"filter":"subj","seq":N,"keep":N}.
func (a *API) streamPurge(req *request) {
	fail := func(e *APIError) {
		a.respond(req, &purgeResponse{apiResponse: apiResponse{Type: typeStreamPurge, Error: e}}, true)
	}
	if requiredAPILevelTooHigh(req.hdr, a.opts.APILevel) {
		fail(errRequiredAPILevel)
		return
	}
	var pr purgeRequest
	if isJSONObjectOrArray(req.data) {
		if err := decodeRequest(req.data, &pr); err != nil {
			fail(errInvalidJSONF(err))
			return
		}
		if pr.Sequence > 0 && pr.Keep > 0 {
			fail(errBadRequest)
			return
		}
	}
	s := a.lookup(streamName(req.subject))
	if s == nil {
		fail(errStreamNotFound)
		return
	}
	if s.config().DenyPurge {
		fail(errPurgeFailedF(errors.New("stream purge not permitted")))
		return
	}
	// Without a filter, a sequence beyond the last moves the stream
	// forward; it must leave room for new sequences.
	if pr.Sequence > maxPurgeSeq && (pr.Subject == "" || pr.Subject == ">") {
		fail(errPurgeSeqTooLargeF(pr.Sequence))
		return
	}
	n, err := s.st.Purge(store.PurgeOpts{Subject: pr.Subject, Seq: pr.Sequence, Keep: pr.Keep})
	if errors.Is(err, store.ErrSeqOverflow) {
		fail(errPurgeSeqTooLargeF(pr.Sequence))
		return
	}
	if err != nil {
		fail(errStreamGeneralF(err))
		return
	}
	a.respond(req, &purgeResponse{apiResponse: apiResponse{Type: typeStreamPurge}, Success: true, Purged: n}, false)
}

// ownKVSubjects reports whether subj is the namespace of the KV bucket
// whose stream is named stream: $KV.<bucket>.> for KV_<bucket>.
func ownKVSubjects(stream, subj string) bool {
	bucket, ok := strings.CutPrefix(stream, "KV_")
	return ok && bucket != "" && subj == "$KV."+bucket+".>"
}
