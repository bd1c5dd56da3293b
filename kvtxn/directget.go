package kvtxn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrBatchGetUnsupported is returned when the server answers a batch direct
// get with a single plain message (servers before nats-server 2.11).
var ErrBatchGetUnsupported = errors.New("kvtxn: the server does not support batch direct get")

// Header names of a batch direct get reply (ADR-31).
const (
	hdrSubject    = "Nats-Subject"
	hdrSequence   = "Nats-Sequence"
	hdrTimeStamp  = "Nats-Time-Stamp"
	hdrNumPending = "Nats-Num-Pending"
	hdrUpToSeq    = "Nats-UpTo-Sequence"
	hdrLastSeq    = "Nats-Last-Sequence"
	hdrStatus     = "Status"
	hdrDesc       = "Description"
)

// multiLastRequest is the body of $JS.API.DIRECT.GET.<stream> for a
// point-in-time read (ADR-31 "multi_last").
type multiLastRequest struct {
	MultiLast []string `json:"multi_last"`
	UpToSeq   uint64   `json:"up_to_seq,omitempty"`
	Seq       uint64   `json:"seq,omitempty"`
}

// maxSubjectsPerRequest is how many literal subjects one multi_last request
// names: nats-server answers at most 1024 subjects ("413 Too Many Results").
const maxSubjectsPerRequest = 1024

// maxPages bounds the requests of one multi_last read (pages of an answer
// cut short, and chunks of subjects).
const maxPages = 100000

// multiLastResult is what multiLast read.
type multiLastResult struct {
	msgs []*jetstream.RawStreamMsg
	// upTo is the sequence the answer is as of.
	upTo uint64
	// requests is how many requests the answer took: more than one when
	// the subjects were split in chunks or an answer was cut short.
	requests int
}

// multiLast asks the stream for the last message of every subject matching
// subjects with a sequence ≤ upTo (0: the stream's last when the first
// request is answered) and collects the replies up to each 204 EOB end
// marker. Subjects are sent at most 1024 a request, every request after
// the first with the first answer's up-to sequence; an answer cut short
// (Nats-Num-Pending > 0 on its end marker, as cairn-server does past
// max_bytes) is continued from the sequence after its last message.
//
// orbit.go's jetstreamext.GetLastMsgsFor sends one such request, but its
// iterator drops the end marker and with it Nats-UpTo-Sequence (the
// revision a read at the latest revision was taken at) and
// Nats-Num-Pending. Hence this reader.
func multiLast(ctx context.Context, js jetstream.JetStream, stream string, subjects []string, upTo uint64) (*multiLastResult, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, js.Options().DefaultTimeout)
		defer cancel()
	}
	nc := js.Conn()
	// An inbox of its own, outside the prefix of nats.go's shared
	// request subscription, which would otherwise see every reply too.
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe() //nolint:errcheck // best effort: the inbox is unique
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return nil, err
	}
	r := &multiLastResult{upTo: upTo}
	if upTo == 0 && len(subjects) > maxSubjectsPerRequest {
		// Every chunk must be read as of one sequence, and an empty
		// first answer would not say which.
		info, err := js.Stream(ctx, stream)
		if err != nil {
			return nil, fmt.Errorf("batch direct get on %s: %w", stream, err)
		}
		if r.upTo = info.CachedInfo().State.LastSeq; r.upTo == 0 {
			return r, nil // an empty stream
		}
	}
	for from := 0; from < len(subjects); from += maxSubjectsPerRequest {
		req := multiLastRequest{MultiLast: subjects[from:min(from+maxSubjectsPerRequest, len(subjects))]}
		for {
			if r.requests++; r.requests > maxPages {
				return nil, fmt.Errorf("batch direct get on %s: more than %d requests", stream, maxPages)
			}
			req.UpToSeq = r.upTo
			page, err := requestPage(ctx, js, sub, stream, req)
			if err != nil {
				return nil, err
			}
			r.msgs = append(r.msgs, page.msgs...)
			if r.upTo == 0 {
				r.upTo = page.upTo
			}
			if page.pending == 0 {
				break
			}
			if page.last < req.Seq || len(page.msgs) == 0 {
				return nil, fmt.Errorf("batch direct get on %s: an answer cut short made no progress", stream)
			}
			req.Seq = page.last + 1
		}
	}
	return r, nil
}

// page is one answer to a multi_last request.
type page struct {
	msgs    []*jetstream.RawStreamMsg
	upTo    uint64 // Nats-UpTo-Sequence of the end marker
	pending uint64 // Nats-Num-Pending of the end marker
	last    uint64 // Nats-Last-Sequence of the end marker
}

func requestPage(ctx context.Context, js jetstream.JetStream, sub *nats.Subscription, stream string, req multiLastRequest) (*page, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if err := js.Conn().PublishRequest(apiPrefix(js)+"DIRECT.GET."+stream, sub.Subject, body); err != nil {
		return nil, err
	}
	p := &page{}
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return nil, fmt.Errorf("batch direct get on %s after %d replies: %w", stream, len(p.msgs), err)
		}
		if len(m.Data) == 0 && m.Header.Get(hdrStatus) != "" {
			return p, endOfBatch(m, p, stream)
		}
		raw, err := rawMessage(m)
		if err != nil {
			return nil, err
		}
		p.msgs = append(p.msgs, raw)
	}
}

// endOfBatch interprets a status reply: the 204 EOB end marker, 404 (no
// subject has a message), or an error.
func endOfBatch(m *nats.Msg, p *page, stream string) error {
	status, desc := m.Header.Get(hdrStatus), m.Header.Get(hdrDesc)
	switch status {
	case "204":
		var err error
		for _, h := range []struct {
			name string
			into *uint64
		}{{hdrUpToSeq, &p.upTo}, {hdrNumPending, &p.pending}, {hdrLastSeq, &p.last}} {
			if v := m.Header.Get(h.name); v != "" && err == nil {
				if *h.into, err = strconv.ParseUint(v, 10, 64); err != nil {
					err = fmt.Errorf("batch direct get on %s: bad %s %q", stream, h.name, v)
				}
			}
		}
		return err
	case "404":
		if len(p.msgs) == 0 {
			return nil
		}
	case "413":
		return fmt.Errorf("batch direct get on %s: %s %s: the server answers fewer keys in one read (nats-server: at most 1024; read with a narrower pattern, or GetMany in parts)", stream, status, desc)
	case "503":
		return fmt.Errorf("batch direct get on %s: no responders (no such bucket, or its stream does not allow direct get)", stream)
	}
	return fmt.Errorf("batch direct get on %s: status %s %s", stream, status, desc)
}

// rawMessage converts one batch direct get reply.
func rawMessage(m *nats.Msg) (*jetstream.RawStreamMsg, error) {
	if m.Header.Get(hdrNumPending) == "" {
		return nil, ErrBatchGetUnsupported
	}
	seq, err := strconv.ParseUint(m.Header.Get(hdrSequence), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("batch direct get: bad %s %q", hdrSequence, m.Header.Get(hdrSequence))
	}
	tm, err := time.Parse(time.RFC3339Nano, m.Header.Get(hdrTimeStamp))
	if err != nil {
		return nil, fmt.Errorf("batch direct get: bad %s %q", hdrTimeStamp, m.Header.Get(hdrTimeStamp))
	}
	subj := m.Header.Get(hdrSubject)
	if subj == "" {
		return nil, fmt.Errorf("batch direct get: reply without %s", hdrSubject)
	}
	return &jetstream.RawStreamMsg{Subject: subj, Sequence: seq, Header: m.Header, Data: m.Data, Time: tm}, nil
}

// apiPrefix is the JetStream API prefix the client was configured with.
func apiPrefix(js jetstream.JetStream) string {
	o := js.Options()
	switch {
	case o.APIPrefix != "":
		if o.APIPrefix[len(o.APIPrefix)-1] != '.' {
			return o.APIPrefix + "."
		}
		return o.APIPrefix
	case o.Domain != "":
		return "$JS." + o.Domain + ".API."
	}
	return "$JS.API."
}

// Headers ADR-50 leaves on the stored messages of an atomic batch.
const (
	hdrBatchID     = "Nats-Batch-Id"
	hdrBatchSeq    = "Nats-Batch-Sequence"
	hdrBatchCommit = "Nats-Batch-Commit"
)

// errNoMessage is getSeq's answer for a sequence the stream does not hold.
var errNoMessage = errors.New("no message at this sequence")

// getSeq reads the message with sequence seq (a plain direct get).
func getSeq(ctx context.Context, js jetstream.JetStream, stream string, seq uint64) (*nats.Msg, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, js.Options().DefaultTimeout)
		defer cancel()
	}
	body := []byte(`{"seq":` + strconv.FormatUint(seq, 10) + `}`)
	m, err := js.Conn().RequestWithContext(ctx, apiPrefix(js)+"DIRECT.GET."+stream, body)
	if err != nil {
		return nil, fmt.Errorf("direct get of sequence %d on %s: %w", seq, stream, err)
	}
	if len(m.Data) == 0 && m.Header.Get(hdrStatus) != "" {
		if m.Header.Get(hdrStatus) == "404" {
			return nil, errNoMessage
		}
		return nil, fmt.Errorf("direct get of sequence %d on %s: status %s %s", seq, stream, m.Header.Get(hdrStatus), m.Header.Get(hdrDesc))
	}
	return m, nil
}

// batchBoundary returns the greatest revision ≤ rev at which no atomic
// batch is half stored: rev itself unless the message at rev belongs to a
// batch that goes on after it. nats-server 2.15.2 stores a committed batch
// one message at a time, and a batch direct get running meanwhile can
// answer as of a revision in the middle of it (seen by tests/bank); a
// snapshot must then be taken just before the batch.
//
// The message at rev is in the middle of a batch when it carries
// Nats-Batch-Id without Nats-Batch-Commit and the message at rev+1 belongs
// to the same batch or does not exist yet. (A batch committed with "eob"
// stores no commit header: such a batch ending the stream is treated as
// unfinished until another write follows it.) known holds messages already
// read, by sequence, to save a request.
func batchBoundary(ctx context.Context, js jetstream.JetStream, stream string, rev uint64, known map[uint64]nats.Header) (uint64, error) {
	if rev == 0 {
		return 0, nil
	}
	header := func(seq uint64) (nats.Header, error) {
		if h, ok := known[seq]; ok {
			return h, nil
		}
		m, err := getSeq(ctx, js, stream, seq)
		if err != nil {
			return nil, err
		}
		return m.Header, nil
	}
	h, err := header(rev)
	if errors.Is(err, errNoMessage) {
		// Removed since: a later message of its key replaced it, so
		// its batch was stored whole by then.
		return rev, nil
	}
	if err != nil {
		return 0, err
	}
	id := h.Get(hdrBatchID)
	if id == "" || h.Get(hdrBatchCommit) != "" {
		return rev, nil
	}
	k, err := strconv.ParseUint(h.Get(hdrBatchSeq), 10, 64)
	if err != nil || k == 0 || k > rev {
		return 0, fmt.Errorf("message %d of %s has a bad %s %q", rev, stream, hdrBatchSeq, h.Get(hdrBatchSeq))
	}
	next, err := header(rev + 1)
	switch {
	case err == nil && next.Get(hdrBatchID) != id:
		return rev, nil // the batch ended at rev (an "eob" commit)
	case err == nil, errors.Is(err, errNoMessage):
		return rev - k, nil
	}
	return 0, err
}
