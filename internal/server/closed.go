package server

import (
	"sync"
	"time"
)

// Closed connections: the latest MaxClosedConns clients to close are
// kept, with their counters, stop time and reason, for /connz
// state=closed (nats-server keeps the same number, max_closed_clients).
// Each keeps at most maxClosedSubs of its subscriptions, so that the
// ring's memory is bounded whatever the clients did (nats-server keeps
// them all).

// MaxClosedConns is how many closed connections are kept.
const MaxClosedConns = 10000

// maxClosedSubs is how many subscriptions a closed connection keeps.
const maxClosedSubs = 1024

// ClosedConnInfo is a closed connection: what it was when it closed.
// NumSubs counts all its subscriptions, Subs holds at most
// maxClosedSubs of them, sorted by sid.
type ClosedConnInfo struct {
	ConnInfo
	Stop   time.Time
	Reason string
}

// closedRing is a ring of the latest closed connections.
type closedRing struct {
	mu   sync.Mutex
	buf  []ClosedConnInfo
	next int // where the next one goes once buf is full
}

func (r *closedRing) add(ci ClosedConnInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.buf) < MaxClosedConns {
		r.buf = append(r.buf, ci)
		return
	}
	r.buf[r.next] = ci
	r.next = (r.next + 1) % MaxClosedConns
}

// all returns the closed connections, oldest first.
func (r *closedRing) all() []ClosedConnInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]ClosedConnInfo, 0, len(r.buf))
	out = append(out, r.buf[r.next:]...)
	return append(out, r.buf[:r.next]...)
}

// ClosedConns returns the latest closed client connections (at most
// MaxClosedConns), oldest first.
func (s *Server) ClosedConns() []ClosedConnInfo { return s.closed.all() }
