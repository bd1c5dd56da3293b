package server

import (
	"sync"
	"time"
)

// Closed connections: the latest MaxClosedConns clients to close are
// kept, with their counters, stop time and reason, for /connz
// state=closed (nats-server keeps the same number, max_closed_clients).
// Each keeps at most maxClosedSubs of its subscriptions, and all
// together hold at most maxClosedBytes of strings (subjects, names):
// past it the oldest give up their subscriptions, then their place, so
// that clients that subscribe to long subjects and leave, over and over,
// cannot grow the server's memory (nats-server keeps every
// subscription of every closed connection).

// MaxClosedConns is how many closed connections are kept.
const MaxClosedConns = 10000

// maxClosedSubs is how many subscriptions a closed connection keeps.
const maxClosedSubs = 1024

// maxClosedBytes bounds the strings held by the closed connections.
const maxClosedBytes = 8 << 20

// ClosedConnInfo is a closed connection: what it was when it closed.
// NumSubs counts all its subscriptions, Subs holds at most
// maxClosedSubs of them, sorted by sid (none once the connection is
// among the oldest and the ring is past its byte bound).
type ClosedConnInfo struct {
	ConnInfo
	Stop   time.Time
	Reason string
}

// closedRing is a ring of the latest closed connections, oldest at
// buf[next] once full.
type closedRing struct {
	mu    sync.Mutex
	buf   []ClosedConnInfo
	next  int
	bytes int // strings held, as counted by sizeOf
}

// subSize is what one kept subscription counts beyond its strings.
const subSize = 64

func (ci *ClosedConnInfo) fixedSize() int {
	return len(ci.Name) + len(ci.Lang) + len(ci.Version) + len(ci.User) + len(ci.Account) + len(ci.Reason) + len(ci.IP)
}

func (ci *ClosedConnInfo) subsSize() int {
	n := 0
	for _, s := range ci.Subs {
		n += subSize + len(s.Subject) + len(s.Queue) + len(s.SID)
	}
	return n
}

func (r *closedRing) add(ci ClosedConnInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.buf) < MaxClosedConns {
		r.buf = append(r.buf, ci)
	} else {
		old := &r.buf[r.next]
		r.bytes -= old.fixedSize() + old.subsSize()
		r.buf[r.next] = ci
		r.next = (r.next + 1) % MaxClosedConns
	}
	r.bytes += ci.fixedSize() + ci.subsSize()
	// Over the bound: the oldest give up their subscriptions first
	// (the newest, just added, last), then their place.
	n := len(r.buf)
	for i := 0; i < n && r.bytes > maxClosedBytes; i++ {
		e := &r.buf[(r.oldest()+i)%n]
		r.bytes -= e.subsSize()
		e.Subs = nil
	}
	for r.bytes > maxClosedBytes && len(r.buf) > 1 {
		r.dropOldest()
	}
}

// oldest returns the index of the oldest entry.
func (r *closedRing) oldest() int {
	if len(r.buf) < MaxClosedConns {
		return 0
	}
	return r.next
}

// dropOldest removes the oldest entry; the ring is then a plain slice
// again, oldest first.
func (r *closedRing) dropOldest() {
	all := r.allLocked()
	r.bytes -= all[0].fixedSize() + all[0].subsSize()
	r.buf, r.next = all[1:], 0
}

// all returns the closed connections, oldest first.
func (r *closedRing) all() []ClosedConnInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.allLocked()
}

func (r *closedRing) allLocked() []ClosedConnInfo {
	o := r.oldest()
	out := make([]ClosedConnInfo, 0, len(r.buf))
	out = append(out, r.buf[o:]...)
	return append(out, r.buf[:o]...)
}

// ClosedConns returns the latest closed client connections (at most
// MaxClosedConns), oldest first.
func (s *Server) ClosedConns() []ClosedConnInfo { return s.closed.all() }
