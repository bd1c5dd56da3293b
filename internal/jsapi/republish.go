package jsapi

import (
	"strconv"
	"sync"
	"time"

	"github.com/cairn-db/cairn/internal/store"
)

// Headers added to republished and directly fetched messages.
const (
	hdrStream     = "Nats-Stream"
	hdrSubject    = "Nats-Subject"
	hdrSequence   = "Nats-Sequence"
	hdrTimeStamp  = "Nats-Time-Stamp"
	hdrLastSeq    = "Nats-Last-Sequence"
	hdrMsgSize    = "Nats-Msg-Size"
	hdrNumPending = "Nats-Num-Pending"
)

// republisher copies stored messages to the configured destination with
// the stream headers added (the "republish" stream option).
//
// Nats-Last-Sequence is the previous sequence stored on the same subject
// as far as this republisher has seen, 0 for the first; it lets
// lightweight subscribers detect gaps. (nats-server reads the subject's
// last live message at append time instead; the two differ only after a
// message was removed through the API.)
type republisher struct {
	m           *mapping
	headersOnly bool

	mu   sync.Mutex
	last map[string]uint64
}

func newRepublisher(m *mapping, headersOnly bool) *republisher {
	return &republisher{m: m, headersOnly: headersOnly, last: make(map[string]uint64)}
}

// publish republishes m if its subject matches the source.
func (rp *republisher) publish(bus Bus, stream string, m *store.Msg) {
	dest, ok := rp.m.apply(m.Subject)
	if !ok {
		return
	}
	rp.mu.Lock()
	prev := rp.last[m.Subject]
	rp.last[m.Subject] = m.Seq
	rp.mu.Unlock()

	hdr := appendStreamHeaders(make([]byte, 0, len(m.Header)+160), m, stream)
	hdr = appendHeaderLine(hdr, hdrLastSeq, strconv.FormatUint(prev, 10))
	data := m.Data
	if rp.headersOnly {
		hdr = appendHeaderLine(hdr, hdrMsgSize, strconv.Itoa(len(m.Data)))
		data = nil
	}
	hdr = append(hdr, "\r\n"...)
	bus.Publish(dest, "", hdr, data)
}

// appendStreamHeaders appends the message's own header lines (or a bare
// version line) followed by Nats-Stream, Nats-Subject, Nats-Sequence and
// Nats-Time-Stamp. The block is left open for more lines.
func appendStreamHeaders(b []byte, m *store.Msg, stream string) []byte {
	b = append(b, hdrLine...)
	b = appendHeaderBody(b, m.Header)
	b = appendHeaderLine(b, hdrStream, stream)
	b = appendHeaderLine(b, hdrSubject, m.Subject)
	b = append(b, hdrSequence...)
	b = append(b, ": "...)
	b = strconv.AppendUint(b, m.Seq, 10)
	b = append(b, "\r\n"...)
	b = append(b, hdrTimeStamp...)
	b = append(b, ": "...)
	b = time.Unix(0, m.Time).UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, "\r\n"...)
}
