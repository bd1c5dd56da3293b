package cluster

import (
	"net"
	"sync"
)

// outQueue is a route's pending output: a list of chunks, appended to
// in place and written with one writev. A single growing buffer would
// copy everything queued each time it doubles (and clear the new
// array), which at a fast publisher's rate cost more than the write.
type outQueue struct {
	bufs [][]byte
	size int // bytes queued, over every chunk
}

// chunkSize is the capacity of a pooled chunk; a message larger than a
// chunk gets a chunk of its own size.
const chunkSize = 64 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, 0, chunkSize); return &b }}

// tail returns the last chunk, with room for at least n more bytes (a
// new chunk when it has not). The caller appends at most n bytes to it
// and hands the result to setTail.
func (q *outQueue) tail(n int) []byte {
	if k := len(q.bufs); k > 0 {
		if last := q.bufs[k-1]; cap(last)-len(last) >= n {
			return last
		}
	}
	var b []byte
	if n <= chunkSize {
		b = (*chunkPool.Get().(*[]byte))[:0]
	} else {
		b = make([]byte, 0, n)
	}
	q.bufs = append(q.bufs, b)
	return b
}

// setTail records the last chunk after an append to what tail returned.
func (q *outQueue) setTail(b []byte) {
	last := &q.bufs[len(q.bufs)-1]
	q.size += len(b) - len(*last)
	*last = b
}

// add appends p.
func (q *outQueue) add(p []byte) {
	q.setTail(append(q.tail(len(p)), p...))
}

// take returns the queued chunks and empties the queue.
func (q *outQueue) take() ([][]byte, int) {
	bufs, size := q.bufs, q.size
	q.bufs, q.size = nil, 0
	return bufs, size
}

// writeChunks writes bufs to conn in order (one writev on a TCP
// connection) and returns the pooled chunks to their pool.
func writeChunks(conn net.Conn, bufs [][]byte) (int64, error) {
	keep := append([][]byte(nil), bufs...) // WriteTo consumes its slice
	nb := net.Buffers(bufs)
	n, err := nb.WriteTo(conn)
	for _, b := range keep {
		if cap(b) == chunkSize {
			b = b[:0]
			chunkPool.Put(&b)
		}
	}
	return n, err
}

// msgSize bounds the bytes appendMsg, appendFwd or appendRaft write for
// these arguments: the payload and every argument, plus the fixed
// words and numbers.
func msgSize(acc string, routeSubj, subj, reply []byte, queues []string, header, payload []byte) int {
	n := len(acc) + len(routeSubj) + len(subj) + len(reply) + len(header) + len(payload) + 96
	for _, q := range queues {
		n += len(q) + 1
	}
	return n
}
