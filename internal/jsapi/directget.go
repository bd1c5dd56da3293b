package jsapi

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/cairn-db/cairn/internal/store"
)

// Direct get (ADR-31): $JS.API.DIRECT.GET.<stream> answers with the
// stored message itself, its headers extended by Nats-Stream,
// Nats-Subject, Nats-Sequence and Nats-Time-Stamp, or with a
// status-only message. A request with "batch" answers with up to that
// many messages, each also carrying Nats-Num-Pending (matching messages
// left after it) and Nats-Last-Sequence (the sequence of the message
// before it in the answer, 0 for the first), then a "204 EOB" status
// message with both headers. "multi_last" is the multi-subject form
// (directget_multi.go).
//
//	{"seq":3,"batch":2}  →  msg 3 (Num-Pending 4, Last-Sequence 0)
//	                        msg 4 (Num-Pending 3, Last-Sequence 3)
//	                        204 EOB (Num-Pending 3, Last-Sequence 4)

// Status-only answers of DIRECT.GET, with nats-server's texts.
var (
	statusNotFound      = statusHeader(404, "Message Not Found")
	statusNoResults     = statusHeader(404, "No Results")
	statusEmptyRequest  = statusHeader(408, "Empty Request")
	statusMalformed     = statusHeader(408, "Malformed Request")
	statusBadRequest    = statusHeader(408, "Bad Request")
	statusRequiredLevel = statusHeader(412, "Required Api Level")
	statusTooMany       = statusHeader(413, "Too Many Results")
)

// defaultBatchBytes is max_bytes when a batch request gives none:
// nats-server uses its max_pending, 64 MiB by default. It counts the
// stored subject, header and payload bytes, as nats-server does.
const defaultBatchBytes = 64 << 20

// answerWireBytes bounds what one batch answer puts on the wire
// (protocol lines and the added headers included), whatever max_bytes
// asks, when the bus cannot wait for the requester (see Drainer): an
// answer is written to the requester's output buffer while its reader
// runs the handler, and a buffer past the server's max_pending (64 MiB
// by default) would cut the client off as a slow consumer. An answer
// cut there ends with Nats-Num-Pending > 0 like one cut by max_bytes,
// and the client asks again from the next sequence.
const answerWireBytes = 32 << 20

// drainEvery is how much of an answer goes to the requester's buffer
// before the handler waits for it to be written, when the bus can
// (Drainer).
const drainEvery = 4 << 20

// answerBudget tracks the byte bounds of a batch answer and, over a
// Drainer, paces it to the requester's reading.
type answerBudget struct {
	maxBytes  int  // nats-server's rule: stored bytes
	unlimited bool // no maxBytes (newAnswerBudget)
	sent      int
	wireBytes int
	drainer   Drainer // nil: the answer stops at answerWireBytes
	undrained int     // wire bytes since the last wait
}

// newAnswerBudget returns the budget of an answer to reply. maxBytes is
// the request's max_bytes; 0 takes defaultBatchBytes, unless unbounded
// (a multi_last answer without max_bytes over a bus that can pace it,
// which then has no byte bound at all).
func (s *stream) newAnswerBudget(maxBytes int, unbounded bool) *answerBudget {
	b := &answerBudget{maxBytes: maxBytes}
	b.drainer, _ = s.api.bus.(Drainer)
	if maxBytes == 0 {
		if unbounded && b.drainer != nil {
			b.unlimited = true
		} else {
			b.maxBytes = defaultBatchBytes
		}
	}
	return b
}

// spend counts one message sent with header block hdr to reply and
// reports whether the answer must stop there. Over a Drainer it waits
// for the requester every drainEvery bytes instead of stopping at
// answerWireBytes.
func (b *answerBudget) spend(reply string, m *store.Msg, hdr []byte) bool {
	b.sent += len(m.Subject) + len(m.Header) + len(m.Data)
	// "HMSG <reply> <sid> <hdr> <total>\r\n" + block + payload + "\r\n"
	n := len(reply) + 40 + len(hdr) + len(m.Data)
	b.wireBytes += n
	if !b.unlimited && b.sent >= b.maxBytes {
		return true
	}
	if b.drainer == nil {
		return b.wireBytes >= answerWireBytes
	}
	if b.undrained += n; b.undrained >= drainEvery {
		b.undrained = 0
		if !b.drainer.WaitDrained(reply, drainEvery) {
			return true // the requester is gone
		}
	}
	return false
}

// directGet answers $JS.API.DIRECT.GET.<stream> with a JSON request
// body, checking it in nats-server's order: API level, empty body,
// malformed JSON, nothing selected, conflicting fields.
func (s *stream) directGet(_, reply string, hdr, data []byte) {
	if reply == "" || s.barrier() != nil {
		return // no answer from a replica that cannot confirm it is current
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
	multi := len(gr.MultiLast) > 0
	switch {
	case gr.Seq == 0 && gr.LastFor == "" && gr.NextFor == "" && !multi && gr.StartTime == nil:
		bus.Publish(reply, "", statusEmptyRequest, nil)
		return
	case conflicting(&gr, multi):
		bus.Publish(reply, "", statusBadRequest, nil)
		return
	case multi:
		s.directMulti(reply, &gr)
		return
	case gr.Batch != 0:
		// A negative batch is a batch of none: nats-server answers with
		// the end marker alone.
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

// conflicting reports the field combinations nats-server refuses with
// "408 Bad Request". up_to_seq and up_to_time apply to multi_last only
// and are otherwise ignored, as by nats-server.
func conflicting(gr *msgGetRequest, multi bool) bool {
	return (gr.Seq > 0 && gr.LastFor != "") ||
		(gr.Seq > 0 && gr.StartTime != nil) ||
		(gr.StartTime != nil && gr.LastFor != "") ||
		(gr.LastFor != "" && gr.NextFor != "") ||
		(gr.LastFor != "" && gr.Batch > 0) ||
		(gr.LastFor != "" && multi) ||
		(gr.NextFor != "" && multi) ||
		(gr.UpToSeq > 0 && gr.UpToTime != nil)
}

// directGetLast answers $JS.API.DIRECT.GET.<stream>.<subject>: the last
// message of the subject named in the request subject. nats.go's and
// natscli's KV Get use it with an empty body.
func (s *stream) directGetLast(subj, reply string, hdr, data []byte) {
	if reply == "" || s.barrier() != nil {
		return // no answer from a replica that cannot confirm it is current
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
	if key == "" || gr.LastFor != "" || gr.NextFor != "" || len(gr.MultiLast) > 0 || gr.Seq != 0 ||
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
// (and, for batches, extra lines such as Nats-Num-Pending), and returns
// the header block it sent.
func (s *stream) sendDirect(reply string, m *store.Msg, noHeaders bool, extra func([]byte) []byte) []byte {
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
	return hdr
}

// batchHeaders returns the extra lines of a message in a batch answer.
func batchHeaders(pending, lastSeq uint64) func([]byte) []byte {
	return func(b []byte) []byte {
		b = appendHeaderLine(b, hdrNumPending, strconv.FormatUint(pending, 10))
		return appendHeaderLine(b, hdrLastSeq, strconv.FormatUint(lastSeq, 10))
	}
}

// directBatch answers a batch request: up to Batch messages from Seq
// (or from the first message at StartTime), matching NextFor when given,
// then a "204 EOB" status message. Messages stored after the request
// arrived are not part of the answer (nats-server holds writes off
// while it answers). With no_hdr the messages carry no headers at all,
// the end marker still does.
func (s *stream) directBatch(reply string, gr *msgGetRequest) {
	filter := gr.NextFor
	seq := gr.Seq
	if gr.StartTime != nil {
		seq = s.seqFromTime(unixNanos(*gr.StartTime))
	}
	upTo := s.st.State().LastSeq
	pending := s.st.NumPending(filter, seq, false)
	budget := s.newAnswerBudget(gr.MaxBytes, false)
	var last uint64
	for i := 0; i < gr.Batch; i++ {
		m, err := s.st.GetNext(filter, seq)
		if err == nil && m.Seq > upTo {
			err = store.ErrNotFound
		}
		if err != nil {
			if i == 0 {
				s.api.bus.Publish(reply, "", statusNotFound, nil)
				return
			}
			break
		}
		if pending > 0 && !gr.NoHeaders {
			// nats-server counts down only the messages it sends with
			// headers: with no_hdr the end marker keeps the first count.
			pending--
		}
		hdr := s.sendDirect(reply, m, gr.NoHeaders, batchHeaders(pending, last))
		last = m.Seq
		if m.Seq == math.MaxUint64 {
			break // no sequence after it: seq+1 would wrap to the start
		}
		seq = m.Seq + 1
		if budget.spend(reply, m, hdr) {
			break
		}
	}
	s.api.bus.Publish(reply, "", endOfBatch(pending, last, 0, false), nil)
}

// endOfBatch returns the header block of the "204 EOB" end marker;
// multi-subject answers also name their up-to sequence.
func endOfBatch(pending, lastSeq, upTo uint64, multi bool) []byte {
	b := make([]byte, 0, 128)
	b = append(b, "NATS/1.0 204 EOB\r\n"...)
	b = appendHeaderLine(b, hdrNumPending, strconv.FormatUint(pending, 10))
	b = appendHeaderLine(b, hdrLastSeq, strconv.FormatUint(lastSeq, 10))
	if multi {
		b = appendHeaderLine(b, hdrUpToSeq, strconv.FormatUint(upTo, 10))
	}
	return append(b, "\r\n"...)
}
