package jsapi

import (
	"errors"

	"github.com/cairn-db/cairn/internal/store"
	"github.com/cairn-db/cairn/internal/subject"
)

// Multi-subject direct get (ADR-31 "multi_last"): the last message of
// every subject matching any of the filters, with a sequence at most
// the up-to sequence, in ascending sequence order, as of one moment:
// a point-in-time read of many KV keys at one revision.
//
//	stream: a=1 (1)  b=1 (2)  a=2 (3)  c=1 (4)      history 5
//	{"multi_last":["a","b","c"],"up_to_seq":3}
//	  → b=1 (seq 2, Num-Pending 1, Last-Sequence 0)
//	    a=2 (seq 3, Num-Pending 0, Last-Sequence 2)
//	    204 EOB (Num-Pending 0, Last-Sequence 3, UpTo-Sequence 3)
//
// The up-to sequence is up_to_seq, or the last sequence before
// up_to_time, or else the stream's last sequence when the request is
// answered. The answer is read from a store snapshot
// (store.LastUpToReader): a write arriving meanwhile neither shows nor
// takes away a message of it. A subject whose messages at or below the
// up-to sequence are all gone (replaced beyond the history, deleted,
// purged) has no answer, as with nats-server.
//
// Where Cairn differs: nats-server refuses an answer of more than 1024
// subjects ("413 Too Many Results"); Cairn answers any number, streamed
// at the pace the requester reads it (the handler waits for the
// requester's buffer every drainEvery bytes, Drainer), so a request
// without "batch" or "max_bytes" gets the whole bucket whatever its
// size: orbit.go's GetLastMsgsFor, which sends one request and reads to
// the end marker, reads a bucket of any size. One answer stops at
// "batch" messages or at max_bytes when given (over a bus that cannot
// pace it: also at 64 MiB of stored bytes and answerWireBytes on the
// wire); its end marker then carries Nats-Num-Pending > 0, and the
// client continues with the same filters, "up_to_seq" set to the
// marker's Nats-UpTo-Sequence and "seq" to its Nats-Last-Sequence + 1
// (a multi_last request's "seq" skips the results below it, nats-server's
// rule too).
//
// "no_hdr" is ignored: every message carries its headers, as from
// nats-server.

// hdrUpToSeq names the up-to sequence in the end marker of a
// multi-subject answer.
const hdrUpToSeq = "Nats-UpTo-Sequence"

// directMulti answers a multi_last request.
func (s *stream) directMulti(reply string, gr *msgGetRequest) {
	bus := s.api.bus
	reader, ok := s.st.(store.LastUpToReader)
	if !ok {
		bus.Publish(reply, "", statusHeader(500, "multi_last not supported by this stream"), nil)
		return
	}
	upTo := gr.UpToSeq
	if gr.UpToTime != nil {
		// The first message at or after the time, less one; nothing
		// before the stream's first message can be answered.
		seq := s.seqFromTime(unixNanos(gr.UpToTime.UTC()))
		if seq <= s.st.State().FirstSeq {
			bus.Publish(reply, "", statusNoResults, nil)
			return
		}
		upTo = seq - 1
	}
	filters := validFilters(gr.MultiLast)
	if len(filters) == 0 {
		bus.Publish(reply, "", statusNoResults, nil)
		return
	}
	q := store.LastUpToQuery{Filters: filters, UpTo: upTo, From: gr.Seq}
	if gr.Batch > 0 {
		q.Limit = gr.Batch
	}
	start := s.kvStart()
	sn, err := reader.SnapshotLastUpTo(q)
	if err != nil {
		observeGet(start, err)
		status := statusHeader(500, err.Error())
		if errors.Is(err, store.ErrSnapshotBudget) {
			status = statusTooMany
		}
		bus.Publish(reply, "", status, nil)
		return
	}
	defer sn.Close()
	if upTo == 0 {
		upTo = sn.LastSeq()
	}
	// nats-server's file store finds nothing for an up_to_seq beyond
	// the stream's last sequence (its memory store answers as of the
	// last); Cairn does the same, by storage type.
	beyondLast := gr.UpToSeq > sn.LastSeq() && s.config().Storage == StorageFile
	if beyondLast || sn.Skipped()+sn.Remaining()+sn.Beyond() == 0 {
		observeGet(start, store.ErrNotFound)
		bus.Publish(reply, "", statusNoResults, nil)
		return
	}
	lastSeq, err := s.sendMulti(reply, gr, sn)
	observeGet(start, err)
	if err != nil {
		bus.Publish(reply, "", statusNotFound, nil)
		return
	}
	pending := uint64(sn.Remaining() + sn.Beyond())
	bus.Publish(reply, "", endOfBatch(pending, lastSeq, upTo, true), nil)
}

// sendMulti sends the messages of sn until the answer's bounds, and
// returns the sequence of the last one sent.
func (s *stream) sendMulti(reply string, gr *msgGetRequest, sn store.LastUpToSnapshot) (uint64, error) {
	budget := s.newAnswerBudget(gr.MaxBytes, true)
	var lastSeq uint64
	for sent := 0; ; {
		m, err := sn.Next()
		if errors.Is(err, store.ErrNotFound) {
			return lastSeq, nil
		}
		if err != nil {
			return lastSeq, err
		}
		pending := uint64(sn.Remaining() + sn.Beyond())
		hdr := s.sendDirect(reply, m, false, batchHeaders(pending, lastSeq))
		lastSeq = m.Seq
		if budget.spend(reply, m, hdr) {
			return lastSeq, nil
		}
		if sent++; gr.Batch > 0 && sent >= gr.Batch {
			return lastSeq, nil
		}
	}
}

// validFilters returns the filters that are valid subject filters:
// nats-server matches a malformed one, or "", against nothing.
func validFilters(filters []string) []string {
	out := make([]string, 0, len(filters))
	for _, f := range filters {
		if f != "" && subject.ValidFilter(f) {
			out = append(out, f)
		}
	}
	return out
}
