package jsapi

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/s2"

	"github.com/cairn-db/cairn/internal/store"
	"github.com/cairn-db/cairn/internal/subject"
)

// Backups: $JS.API.STREAM.SNAPSHOT.<stream> streams a point-in-time
// archive of a file stream (backup_archive.go) to a deliver subject, as
// nats-server does for `nats stream backup`:
//
//	→ SNAPSHOT.KV_b {"deliver_subject":"_INBOX.x","chunk_size":131072}
//	← {"type":"…stream_snapshot_response","config":{…},"state":{…}}
//	← _INBOX.x  chunk 1, reply $JS.SNAPSHOT.ACK.KV_b.<id>.<len>.1
//	→ $JS.SNAPSHOT.ACK.KV_b.<id>.131072.1   (one ack frees one slot)
//	…
//	← _INBOX.x  "NATS/1.0 204" with no body: the end
//
// The chunks are one s2 stream. At most window/chunk chunks are
// unacknowledged at a time; with none acknowledged for
// snapshotAckTimeout the snapshot ends with "408 No Flow Response", and
// a read error with "500 <error>". The export behind it pins the stream
// at one sequence (store.Export), so writes that continue meanwhile are
// not in the archive, and memory stays bounded by the window and one
// read chunk. Each snapshot runs on a goroutine of its own: it waits
// for acknowledgements, which arrive on the requester's connection.

// Subjects and response types of backup and restore.
const (
	subjSnapshot         = "$JS.API.STREAM.SNAPSHOT.*"
	subjRestore          = "$JS.API.STREAM.RESTORE.*"
	typeStreamSnapshot   = "io.nats.jetstream.api.v1.stream_snapshot_response"
	typeStreamRestore    = "io.nats.jetstream.api.v1.stream_restore_response"
	snapshotAckPrefix    = "$JS.SNAPSHOT.ACK."
	restoreDeliverPrefix = "$JS.SNAPSHOT.RESTORE."
)

// Chunk and window sizes, with nats-server's defaults and clamps.
const (
	defaultSnapshotChunk  = 128 << 10
	defaultSnapshotWindow = 8 << 20
	minSnapshotChunk      = 1 << 10
	maxSnapshotChunk      = 1 << 20
	maxSnapshotWindow     = 32 << 20
)

// snapshotAPILevel is the API level of the snapshot request's newest
// field, window_size (level 3 in jsm.go's schema), which Cairn
// implements: natscli asks for that level when it sends one.
const snapshotAPILevel = 3

// snapshotAckTimeout is how long a snapshot waits for an acknowledgement
// when its window is full (a variable for tests).
var snapshotAckTimeout = 5 * time.Second

// Errors of backup and restore (nats-server's codes and texts). They are
// kept here, beside the only code that uses them.
var (
	errSnapshotDeliverSubjectInvalid = &APIError{400, 10015, "deliver subject not valid"}
	errStreamNameExistRestore        = &APIError{400, 10130, "stream name already in use, cannot restore"}
)

// errStreamSnapshotF is 10064, "snapshot failed: {err}".
func errStreamSnapshotF(err error) *APIError {
	return &APIError{500, 10064, "snapshot failed: " + err.Error()}
}

// errStreamRestoreF is 10062, "restore failed: {err}".
func errStreamRestoreF(err error) *APIError {
	return &APIError{500, 10062, "restore failed: " + err.Error()}
}

type snapshotRequest struct {
	DeliverSubject string `json:"deliver_subject"`
	NoConsumers    bool   `json:"no_consumers,omitempty"`
	ChunkSize      int    `json:"chunk_size,omitempty"`
	WindowSize     int    `json:"window_size,omitempty"`
	CheckMsgs      bool   `json:"jsck,omitempty"`
}

type snapshotResponse struct {
	apiResponse
	Config *StreamConfig `json:"config,omitempty"`
	State  *StreamState  `json:"state,omitempty"`
}

// streamSnapshot answers $JS.API.STREAM.SNAPSHOT.<stream>.
func (a *API) streamSnapshot(req *request) {
	if requiredAPILevelTooHigh(req.hdr, max(a.opts.APILevel, snapshotAPILevel)) {
		a.respondError(req, typeStreamSnapshot, errRequiredAPILevel)
		return
	}
	if isEmptyRequest(req.data) {
		a.respondError(req, typeStreamSnapshot, errBadRequest)
		return
	}
	s := a.lookup(streamName(req.subject))
	if s == nil {
		a.respondError(req, typeStreamSnapshot, errStreamNotFound)
		return
	}
	var sr snapshotRequest
	if err := decodeRequest(req.data, &sr); err != nil {
		a.respondError(req, typeStreamSnapshot, errInvalidJSONF(err))
		return
	}
	if !subject.ValidLiteral(sr.DeliverSubject) {
		a.respondError(req, typeStreamSnapshot, errSnapshotDeliverSubjectInvalid)
		return
	}
	if req.caller != nil && !req.caller.MayBeAnsweredOn(sr.DeliverSubject) {
		a.respondError(req, typeStreamSnapshot, errDeliverSubjectNotPermittedF(sr.DeliverSubject))
		return
	}
	if !snapshotsRunning.acquire(a) {
		a.respondError(req, typeStreamSnapshot, errInsufficientResources)
		return
	}
	ex, err := a.st.Export(s.name)
	if err != nil {
		snapshotsRunning.release(a)
		if errors.Is(err, store.ErrInvalidConfig) {
			err = errors.New("memory streams do not support snapshots")
		}
		a.respondError(req, typeStreamSnapshot, errStreamSnapshotF(err))
		return
	}
	// The configuration and creation time come from the meta blob
	// pinned with the export: an update racing the request cannot make
	// them disagree with the messages.
	cfg, created := s.config(), s.created
	if m, err := decodeMeta(ex.Meta()); err == nil {
		cfg, created = m.Config, m.Created
	}
	state := wireState(ex.State())
	hdr := &archiveHeader{
		Stream: s.name, Config: cfg, Created: created, Taken: now(),
		ServerVersion: a.opts.ServerVersion, State: state,
		LastSeq: ex.State().LastSeq, LastTime: ex.State().LastTime,
	}
	ackSubj := snapshotAckPrefix + s.name + "." + newTransferID()
	sender := newChunkSender(a.bus, sr, ackSubj)
	unsub, err := a.bus.Subscribe(ackSubj+".>", func(subj, _ string, _, _ []byte) { sender.ack(subj) })
	if err != nil {
		ex.Close()
		snapshotsRunning.release(a)
		a.respondError(req, typeStreamSnapshot, errStreamSnapshotF(err))
		return
	}
	a.respond(req, &snapshotResponse{apiResponse: apiResponse{Type: typeStreamSnapshot}, Config: &cfg, State: &state}, false)
	go func() {
		defer snapshotsRunning.release(a)
		defer unsub()
		defer ex.Close()
		err := errNoInterest
		if sender.probe() {
			err = writeSnapshot(sender, ex, hdr)
		}
		sender.end(err)
		if err != nil {
			a.opts.Logf("jsapi: snapshot of stream %s failed: %v", s.name, err)
		}
	}()
}

// decodeMeta reads the meta blob jsapi keeps with a stream.
func decodeMeta(b []byte) (meta, error) {
	var m meta
	err := json.Unmarshal(b, &m)
	return m, err
}

// wireState converts store counters to the wire form, as stream.state
// does (without the consumer count).
func wireState(st store.State) StreamState {
	ss := StreamState{
		Msgs: st.Msgs, Bytes: st.Bytes,
		FirstSeq: st.FirstSeq, FirstTime: wireTime(st.FirstTime),
		LastSeq: st.LastSeq, LastTime: wireTime(st.LastTime),
		NumSubjects: st.NumSubjects, NumDeleted: st.NumDeleted,
	}
	if st.LastSeq == 0 && st.Msgs == 0 {
		ss.FirstSeq = 0
	}
	return ss
}

// newTransferID returns a random token for the subjects of one transfer.
func newTransferID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// writeSnapshot writes the archive of ex through s2 into the chunks.
func writeSnapshot(sender *chunkSender, ex *store.Export, hdr *archiveHeader) error {
	zw := s2.NewWriter(sender, s2.WriterConcurrency(1))
	aw, err := newArchiveWriter(zw, hdr)
	for err == nil {
		var m store.ExportedMsg
		m, err = ex.Next()
		if err == io.EOF {
			err = aw.finish()
			break
		}
		if err == nil {
			err = aw.add(&m)
		}
	}
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = sender.flush()
	}
	return err
}

// chunkSender is the io.Writer under the s2 stream: it cuts the bytes
// into chunks and publishes each to the deliver subject with an ack
// reply subject, waiting for a free slot of the window first.
type chunkSender struct {
	bus     Bus
	deliver string
	ackSubj string
	size    int
	slots   chan struct{}
	// listening gets a token when a probe is acknowledged.
	listening chan struct{}
	buf       []byte
	index     int
	once      sync.Once
}

func newChunkSender(bus Bus, sr snapshotRequest, ackSubj string) *chunkSender {
	size := sr.ChunkSize
	if size == 0 {
		size = defaultSnapshotChunk
	}
	window := sr.WindowSize
	if window == 0 {
		window = defaultSnapshotWindow
	}
	size = min(max(size, minSnapshotChunk), maxSnapshotChunk)
	window = max(min(max(window, minSnapshotChunk), maxSnapshotWindow), size)
	c := &chunkSender{bus: bus, deliver: sr.DeliverSubject, ackSubj: ackSubj, size: size, slots: make(chan struct{}, window/size), listening: make(chan struct{}, 1)}
	for range window / size {
		c.slots <- struct{}{}
	}
	c.buf = make([]byte, 0, size)
	return c
}

// ack receives the acknowledgement of a chunk: a probe's tells that the
// receiver listens, a chunk's frees one slot (acks beyond the window
// are ignored).
func (c *chunkSender) ack(subj string) {
	ch := c.slots
	if strings.HasSuffix(subj, ".0") {
		ch = c.listening
	}
	select {
	case ch <- struct{}{}:
	default:
	}
}

// s2StreamIdentifier is the chunk that starts an s2 stream. The framing
// format allows it again anywhere, so a receiver that gets it twice
// still holds a valid stream.
const s2StreamIdentifier = "\xff\x06\x00\x00S2sTwO"

// Probing for the receiver. The client subscribes to the deliver
// subject only once it has the response, and a chunk published before
// would be lost. So the snapshot first sends the s2 stream identifier,
// as chunk 0, every probeInterval until one is acknowledged, for
// probeTimeout at most (nats-server waits up to 2 s for interest).
var (
	probeInterval = 20 * time.Millisecond
	probeTimeout  = 5 * time.Second
)

// errNoInterest: nobody received the probes.
var errNoInterest = errors.New("no interest")

// probe reports whether the receiver acknowledged a probe.
func (c *chunkSender) probe() bool {
	deadline := time.NewTimer(probeTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(probeInterval)
	defer tick.Stop()
	reply := c.ackSubj + "." + strconv.Itoa(len(s2StreamIdentifier)) + ".0"
	for {
		c.bus.Publish(c.deliver, reply, nil, []byte(s2StreamIdentifier))
		select {
		case <-c.listening:
			return true
		case <-deadline.C:
			return false
		case <-tick.C:
		}
	}
}

// errNoFlowResponse: no acknowledgement came for snapshotAckTimeout.
var errNoFlowResponse = errors.New("no flow response")

func (c *chunkSender) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), c.size-len(c.buf))
		c.buf = append(c.buf, p[:k]...)
		p, n = p[k:], n+k
		if len(c.buf) == c.size {
			if err := c.flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// flush sends what is buffered as one chunk.
func (c *chunkSender) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	t := time.NewTimer(snapshotAckTimeout)
	defer t.Stop()
	select {
	case <-c.slots:
	case <-t.C:
		return errNoFlowResponse
	}
	c.index++
	reply := c.ackSubj + "." + strconv.Itoa(len(c.buf)) + "." + strconv.Itoa(c.index)
	c.bus.Publish(c.deliver, reply, nil, c.buf)
	c.buf = c.buf[:0]
	return nil
}

// end sends the status message that ends the snapshot: 204 when it is
// complete, 408 when the receiver stopped acknowledging, 500 otherwise.
func (c *chunkSender) end(err error) {
	c.once.Do(func() {
		status := "NATS/1.0 204\r\n\r\n"
		switch {
		case errors.Is(err, errNoInterest):
			status = "NATS/1.0 408 No Interest\r\n\r\n"
		case errors.Is(err, errNoFlowResponse):
			status = "NATS/1.0 408 No Flow Response\r\n\r\n"
		case err != nil:
			status = fmt.Sprintf("NATS/1.0 500 %s\r\n\r\n", strings.NewReplacer("\r", " ", "\n", " ").Replace(err.Error()))
		}
		c.bus.Publish(c.deliver, "", []byte(status), nil)
	})
}
