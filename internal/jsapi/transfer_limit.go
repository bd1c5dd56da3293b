package jsapi

import "sync/atomic"

// Transfers in progress. A snapshot holds a chunk buffer of up to
// maxSnapshotChunk, an s2 block and a pinned Pebble snapshot (which
// keeps what compactions would drop) until it ends or times out; a
// restore holds an s2 decompression buffer of over a megabyte from its
// request on, and a record of up to maxArchiveRecord while it reads.
// A request costs the client a few hundred bytes, so without a bound a
// flood of them exhausts the server's memory within their timeouts.
// Past these numbers in progress in the process, more are refused with
// 10023 until one ends.
var (
	snapshotsRunning = transferLimit{max: 32}
	restoresRunning  = transferLimit{max: 16}
)

// transferLimit counts the transfers of one kind in progress.
type transferLimit struct {
	n   atomic.Int64
	max int64
}

// acquire takes a place, reporting false when all are taken.
func (l *transferLimit) acquire() bool {
	if l.n.Add(1) > l.max {
		l.n.Add(-1)
		return false
	}
	return true
}

// release gives back a place that acquire took.
func (l *transferLimit) release() { l.n.Add(-1) }
