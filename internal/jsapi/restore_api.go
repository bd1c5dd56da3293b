package jsapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/s2"

	"github.com/cairn-db/cairn/internal/store"
	"github.com/cairn-db/cairn/internal/subject"
)

// Restores: $JS.API.STREAM.RESTORE.<stream> takes an archive made by
// STREAM.SNAPSHOT back, as nats-server does for `nats stream restore`:
//
//	→ RESTORE.KV_b {"config":{…},"state":{…}}
//	← {"type":"…stream_restore_response","deliver_subject":"$JS.SNAPSHOT.RESTORE.KV_b.<id>"}
//	→ chunk 1 (request)          ← empty reply
//	…
//	→ empty message (request)    ← {"type":"…stream_create_response", stream info | error}
//
// The configuration of the request is the new stream's (a client may
// change it); the messages, their sequences, times, TTLs and message
// ids, and the stream's last sequence come from the archive. The
// archive is read as it arrives, on a goroutine of the restore, into a
// store.Import (a table file beside the database): nothing of the
// stream exists until the archive's trailer and checksum were checked,
// and then it appears whole. A corrupt or truncated archive, a
// stream created under the same name meanwhile, or a client that stops
// sending for restoreStallTimeout end the restore with nothing left.
//
// Under another name: an archive of the KV bucket KV_a restores as
// KV_b when the request's configuration is a bucket's (KV_b on
// $KV.b.>); every message subject $KV.a.<key> becomes $KV.b.<key>.
// Other streams restore under their own name only.

// restoreStallTimeout ends a restore whose client sends nothing for that
// long (a variable for tests).
var restoreStallTimeout = 10 * time.Second

var errRestoreStalled = errors.New("restore is stalled: no data received")

type restoreRequest struct {
	Config streamConfigRequest `json:"config"`
	State  json.RawMessage     `json:"state,omitempty"`
}

type restoreResponse struct {
	apiResponse
	DeliverSubject string `json:"deliver_subject"`
}

// streamRestore answers $JS.API.STREAM.RESTORE.<stream>.
func (a *API) streamRestore(req *request) {
	// Errors carry an empty deliver_subject, as nats-server's do.
	fail := func(e *APIError) {
		a.respond(req, &restoreResponse{apiResponse: apiResponse{Type: typeStreamRestore, Error: e}}, true)
	}
	if requiredAPILevelTooHigh(req.hdr, a.opts.APILevel) {
		fail(errRequiredAPILevel)
		return
	}
	if isEmptyRequest(req.data) {
		fail(errBadRequest)
		return
	}
	var rr restoreRequest
	if err := decodeRequest(req.data, &rr); err != nil {
		fail(errInvalidJSONF(err))
		return
	}
	name := streamName(req.subject)
	if rr.Config.Name == "" {
		rr.Config.Name = name
	}
	switch {
	case name != rr.Config.Name:
		fail(errStreamMismatch)
		return
	case strings.ContainsAny(name, `\/`):
		fail(errNameHasPathSeparators)
		return
	}
	cfg, e := normalize(rr.Config.StreamConfig)
	if e == nil {
		e = a.checkStreamCaller(req, &cfg)
	}
	if e == nil && cfg.Storage == StorageMemory {
		e = errStreamRestoreF(errors.New("memory streams cannot be restored"))
	}
	if e == nil {
		e = a.checkRestore(&cfg)
	}
	if e == nil && !restoresRunning.acquire(a) {
		e = errInsufficientResources
	}
	if e != nil {
		fail(e)
		return
	}
	r := &restore{a: a, cfg: cfg}
	r.pr, r.pw = io.Pipe()
	deliver := restoreDeliverPrefix + name + "." + newTransferID()
	unsub, err := a.bus.Subscribe(deliver, r.chunk)
	if err != nil {
		restoresRunning.release(a)
		fail(errStreamRestoreF(err))
		return
	}
	r.unsub = unsub
	r.mu.Lock() // the timer may fire before the assignment is seen
	r.stall = time.AfterFunc(restoreStallTimeout, r.stalled)
	r.mu.Unlock()
	a.respond(req, &restoreResponse{apiResponse: apiResponse{Type: typeStreamRestore}, DeliverSubject: deliver}, false)
	go r.run()
}

// checkRestore checks that a stream with cfg could be created now.
func (a *API) checkRestore(cfg *StreamConfig) *APIError {
	a.ctl.Lock()
	defer a.ctl.Unlock()
	defer a.lockGroup()()
	return a.checkRestoreLocked(cfg)
}

// checkRestoreLocked is checkRestore under a.ctl and the group lock.
func (a *API) checkRestoreLocked(cfg *StreamConfig) *APIError {
	if a.lookup(cfg.Name) != nil {
		return errStreamNameExistRestore
	}
	if e := a.checkLimits(cfg, nil); e != nil {
		return e
	}
	if a.overlaps(cfg.Name, cfg.Subjects) {
		return errSubjectOverlap
	}
	if a.republishCycle(cfg) {
		return errRepublishCycle
	}
	if a.deliveryCycle(cfg.Name, cfg, "") {
		return errConsumerDeliverCycle
	}
	return nil
}

// restore is one restore in progress.
type restore struct {
	a     *API
	cfg   StreamConfig
	pr    *io.PipeReader
	pw    *io.PipeWriter
	unsub func()
	stall *time.Timer

	mu       sync.Mutex
	reply    string                // the end message's reply, once it came
	result   *streamCreateResponse // the outcome, once known
	answered bool
	stopOnce sync.Once
}

// chunk receives one message on the deliver subject; it runs on the
// client's connection, and blocks while the archive reader catches up.
func (r *restore) chunk(_, reply string, _, data []byte) {
	if reply == "" {
		r.pw.CloseWithError(errors.New("a restore needs a reply subject on every chunk"))
		return
	}
	r.mu.Lock()
	r.stall.Reset(restoreStallTimeout)
	r.mu.Unlock()
	if len(data) == 0 {
		r.pw.Close()
		r.mu.Lock()
		r.reply = reply
		r.mu.Unlock()
		r.answer()
		return
	}
	if _, err := r.pw.Write(data); err != nil {
		// The reader failed: the outcome is that error. Answer this
		// chunk with it, as nats-server does; the client stops.
		r.mu.Lock()
		if r.reply == "" {
			r.reply = reply
		}
		r.mu.Unlock()
		r.waitAnswer(err)
		return
	}
	r.a.bus.Publish(reply, "", nil, nil)
}

// waitAnswer answers with the outcome once the reader has it; the
// reader closed the pipe with err, so it is about to set it.
func (r *restore) waitAnswer(err error) {
	r.mu.Lock()
	if r.result == nil {
		r.result = &streamCreateResponse{apiResponse: apiResponse{Type: typeStreamCreate, Error: restoreAPIError(err)}}
	}
	r.mu.Unlock()
	r.answer()
}

// answer sends the outcome when both it and a reply subject are known.
func (r *restore) answer() {
	r.mu.Lock()
	if r.answered || r.result == nil || r.reply == "" {
		r.mu.Unlock()
		return
	}
	r.answered = true
	res, reply := r.result, r.reply
	r.mu.Unlock()
	r.a.respond(&request{subject: restoreDeliverPrefix + r.cfg.Name, reply: reply}, res, res.Error != nil)
	r.stop()
}

// stop ends the restore's subscription and timer.
func (r *restore) stop() {
	r.stopOnce.Do(func() {
		r.mu.Lock()
		r.stall.Stop()
		r.mu.Unlock()
		r.unsub()
	})
}

// stalled ends a restore whose client went quiet.
func (r *restore) stalled() {
	r.pw.CloseWithError(errRestoreStalled)
	r.stop()
}

// restoreAPIError maps a restore failure to its wire error.
func restoreAPIError(err error) *APIError {
	var e *APIError
	if errors.As(err, &e) {
		return e
	}
	return errStreamRestoreF(err)
}

// run reads the archive and creates the stream, then records the
// outcome.
func (r *restore) run() {
	defer restoresRunning.release(r.a)
	s, err := r.importArchive()
	if err != nil {
		r.pr.CloseWithError(err)
		r.a.opts.Logf("jsapi: restore of stream %s failed: %v", r.cfg.Name, err)
	} else {
		_, _ = io.Copy(io.Discard, r.pr) // nothing is left; unblock a writer
	}
	res := &streamCreateResponse{apiResponse: apiResponse{Type: typeStreamCreate}}
	if err != nil {
		res.Error = restoreAPIError(err)
	} else {
		res.StreamInfo = s.info(true)
		res.DidCreate = true
	}
	r.mu.Lock()
	if r.result == nil || err == nil {
		r.result = res
	}
	r.mu.Unlock()
	r.answer()
}

// importArchive reads the archive from the pipe into a store import
// and, once it checked out, creates the stream.
func (r *restore) importArchive() (*stream, error) {
	a := r.a
	ar, err := readArchiveHeader(s2.NewReader(r.pr))
	if err != nil {
		return nil, err
	}
	rename, err := archiveRename(&ar.hdr.Config, &r.cfg)
	if err != nil {
		return nil, err
	}
	cfg := r.cfg
	setStaticMetadata(&cfg)
	created := ar.hdr.Created
	if created.IsZero() {
		created = now()
	}
	blob, err := encodeMeta(&cfg, created)
	if err != nil {
		return nil, err
	}
	im, err := a.st.NewImport(toStoreConfig(&cfg), blob)
	if errors.Is(err, store.ErrStreamExists) {
		return nil, errStreamNameExistRestore
	}
	if err != nil {
		return nil, err
	}
	inStream := subject.MatcherAny(cfg.Subjects)
	room, size := a.restoreRoom(), int64(0)
	for {
		m, err := ar.next()
		if err == io.EOF {
			break
		}
		if err == nil {
			m.Subject = rename(m.Subject)
			if len(cfg.Subjects) > 0 && !inStream(m.Subject) {
				err = fmt.Errorf("message %d on %s is outside the stream's subjects", m.Seq, m.Subject)
			}
		}
		if err == nil {
			size += storedSize(&m)
			if room >= 0 && size > room {
				err = errStorageResources
			}
		}
		if err == nil {
			err = im.Add(m)
		}
		if err != nil {
			im.Abort()
			return nil, err
		}
	}
	return a.commitRestore(im, cfg, created, ar.hdr.LastSeq, ar.hdr.LastTime, size)
}

// archiveRename returns how message subjects change when an archive of
// stream from is restored as stream to.
func archiveRename(from, to *StreamConfig) (func(string) string, error) {
	if from.Name == to.Name {
		return func(s string) string { return s }, nil
	}
	oldBucket, newBucket := kvBucket(from), kvBucket(to)
	if oldBucket == "" || newBucket == "" {
		return nil, fmt.Errorf("the archive holds stream %s: only a KV bucket (KV_<name> on $KV.<name>.>) can be restored under another name", from.Name)
	}
	oldPrefix, newPrefix := "$KV."+oldBucket+".", "$KV."+newBucket+"."
	return func(s string) string {
		if rest, ok := strings.CutPrefix(s, oldPrefix); ok {
			return newPrefix + rest
		}
		return s // outside the bucket: refused by the subjects check
	}, nil
}

// commitRestore creates the stream from a complete import of size
// bytes, checking again, under the stream-management locks, that it may
// exist and that it still fits in the storage limits: restores that ran
// side by side each measured the room left when they started, and
// together they could pass it.
func (a *API) commitRestore(im *store.Import, cfg StreamConfig, created time.Time, lastSeq uint64, lastTime int64, size int64) (*stream, error) {
	a.ctl.Lock()
	defer a.ctl.Unlock()
	defer a.lockGroup()()
	e := a.checkRestoreLocked(&cfg)
	if room := a.restoreRoom(); e == nil && room >= 0 && size > room {
		e = errStorageResources
	}
	if e != nil {
		im.Abort()
		return nil, e
	}
	st, err := im.Commit(lastSeq, lastTime)
	if errors.Is(err, store.ErrStreamExists) {
		return nil, errStreamNameExistRestore
	}
	if err != nil {
		return nil, err
	}
	s, err := a.openStream(st, cfg, created)
	if err != nil {
		_ = a.st.DeleteStream(cfg.Name)
		return nil, err
	}
	a.mu.Lock()
	a.mu.streams[cfg.Name] = s
	a.mu.Unlock()
	// Counted at once, as a publish is (noteStored), so that the next
	// restore to commit sees it before the usage sums are refreshed.
	a.usage.bytes[storageIndex(StorageFile)].Add(size)
	a.replaceSubjects(nil, cfg.Subjects)
	return s, nil
}

// restoreRoom returns how many bytes a restored file stream may hold
// within the account's and the server's file storage limits, or -1 when
// neither is set. A restore that would pass it fails with 10047, as a
// publish past them fails with 10023.
func (a *API) restoreRoom() int64 {
	room := int64(-1)
	if limit := a.accountLimit(StorageFile); limit >= 0 {
		room = max(limit-a.storeUsed(StorageFile), 0)
	}
	if limit := a.maxStoreFor(StorageFile); limit >= 0 {
		left := max(limit-a.serverUsed(StorageFile), 0)
		if room < 0 || left < room {
			room = left
		}
	}
	return room
}

// storedSize is a file stream message's size as the store counts it
// (nats-server's accounting, as noteStored).
func storedSize(m *store.ExportedMsg) int64 {
	n := 30 + len(m.Subject) + len(m.Data)
	if len(m.Header) > 0 {
		n += 4 + len(m.Header)
	}
	return int64(n)
}
