package jsapi

import "sync"

// Transfers in progress. A snapshot holds a chunk buffer of up to
// maxSnapshotChunk, an s2 block and a pinned Pebble snapshot (which
// keeps what compactions would drop) until it ends or times out; a
// restore holds an s2 decompression buffer of over a megabyte from its
// request on, and a record of up to maxArchiveRecord while it reads.
// A request costs the client a few hundred bytes, so without a bound a
// flood of them exhausts the server's memory within their timeouts.
// Past these numbers in progress in the process, or in one account
// (so that one account cannot take every place and keep the others
// from backing up), more are refused with 10023 until one ends.
var (
	snapshotsRunning = transferLimit{max: 32, maxPerAccount: 8}
	restoresRunning  = transferLimit{max: 16, maxPerAccount: 4}
)

// transferLimit counts the transfers of one kind in progress, in all
// and per account (per API).
type transferLimit struct {
	max, maxPerAccount int

	mu struct {
		sync.Mutex
		total  int
		perAPI map[*API]int
	}
}

// acquire takes a place for a transfer of a's account, reporting false
// when none is left.
func (l *transferLimit) acquire(a *API) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.total >= l.max || l.mu.perAPI[a] >= l.maxPerAccount {
		return false
	}
	if l.mu.perAPI == nil {
		l.mu.perAPI = map[*API]int{}
	}
	l.mu.total++
	l.mu.perAPI[a]++
	return true
}

// release gives back a place that acquire took for a.
func (l *transferLimit) release(a *API) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mu.total--
	if l.mu.perAPI[a]--; l.mu.perAPI[a] <= 0 {
		delete(l.mu.perAPI, a)
	}
}
