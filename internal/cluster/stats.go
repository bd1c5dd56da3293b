package cluster

import (
	"net"
	"sync/atomic"
	"time"
)

// Route statistics, for monitoring (/routez, /varz, STATSZ). Each route
// keeps a few atomic counters that its reader and writer goroutines
// bump; RouteStats copies them, so the monitor never takes a route's
// lock but for the instant it reads the pending byte count.

// nextRouteID numbers route connections in the process, from 1, as
// nats-server numbers its connections (a route's rid).
var nextRouteID atomic.Uint64

// routeCounters are a route's statistics. The reader updates in*,
// lastActivity and rtt; the writer out* and pingSent.
type routeCounters struct {
	rid   uint64    // set before the route runs, then read-only
	start time.Time // idem

	inMsgs, inBytes   atomic.Int64 // messages received (RMSG, RFWD, RAFT) and their header+payload bytes
	outMsgs, outBytes atomic.Int64 // writes to the socket and their bytes (see RouteStats)
	lastActivity      atomic.Int64 // unix nanoseconds of the last read or write
	pingSent          atomic.Int64 // unix nanoseconds the oldest unanswered PING was queued; 0 for none
	rtt               atomic.Int64 // nanoseconds between the last answered PING and its PONG
}

// init numbers the route and records its start.
func (rc *routeCounters) init(now time.Time) {
	rc.rid = nextRouteID.Add(1)
	rc.start = now
	rc.lastActivity.Store(now.UnixNano())
}

// received counts one message of size bytes from the peer.
func (rc *routeCounters) received(size int) {
	rc.inMsgs.Add(1)
	rc.inBytes.Add(int64(size))
}

// wrote counts one write of n bytes to the peer.
func (rc *routeCounters) wrote(n int) {
	rc.outMsgs.Add(1)
	rc.outBytes.Add(int64(n))
	rc.lastActivity.Store(time.Now().UnixNano())
}

// pinged records that a PING was queued while none was outstanding.
func (rc *routeCounters) pinged(now time.Time) {
	rc.pingSent.CompareAndSwap(0, now.UnixNano())
}

// ponged records the round trip of the oldest outstanding PING.
func (rc *routeCounters) ponged(now time.Time) {
	if sent := rc.pingSent.Swap(0); sent != 0 {
		rc.rtt.Store(now.UnixNano() - sent)
	}
}

// RouteStats describe one ready route, as /routez reports it.
type RouteStats struct {
	// ID numbers the route connection in the process (nats-server's
	// rid); a route that reconnects gets a new one.
	ID uint64
	// RemoteID and RemoteName are the peer's server id and name.
	RemoteID, RemoteName string
	// Dialed: this node dialed the route (nats-server's did_solicit).
	// Configured: it dialed one of Options.Routes (is_configured), not
	// an address learned from a peer.
	Dialed, Configured bool
	// IP and Port are the peer's end of the connection.
	IP   string
	Port int
	// Start is when the connection was made; LastActivity the last
	// read from or write to it.
	Start, LastActivity time.Time
	// RTT is the round trip of the last answered PING (0 before one).
	RTT time.Duration
	// Pending is the bytes queued for the peer and not yet written.
	Pending int
	// InMsgs and InBytes count the messages received from the peer
	// (routed messages, forwarded requests and Raft frames) and their
	// header and payload bytes. OutMsgs and OutBytes count the writes
	// to the socket and every byte written, protocol included: the
	// senders append to the route's buffer without passing through a
	// counter, and the writer sends many messages per write.
	InMsgs, InBytes, OutMsgs, OutBytes int64
	// Subscriptions is the number of the peer's interests (subject and
	// queue group pairs) across its accounts.
	Subscriptions int
}

// Name returns the cluster's name.
func (c *Cluster) Name() string { return c.opts.Name }

// RouteStats returns the ready routes, in no particular order. It takes
// each route's lock only to read its pending byte count.
func (c *Cluster) RouteStats() []RouteStats {
	rs := *c.routes.Load()
	out := make([]RouteStats, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.stats())
	}
	return out
}

// stats returns the route's statistics now.
func (r *route) stats() RouteStats {
	rc := &r.counters
	s := RouteStats{
		ID:           rc.rid,
		RemoteID:     r.peer.ID,
		RemoteName:   r.peer.Name,
		Dialed:       r.dialed,
		Configured:   r.dialed && r.c.configured(r.addr),
		Start:        rc.start,
		LastActivity: time.Unix(0, rc.lastActivity.Load()),
		RTT:          time.Duration(rc.rtt.Load()),
		InMsgs:       rc.inMsgs.Load(),
		InBytes:      rc.inBytes.Load(),
		OutMsgs:      rc.outMsgs.Load(),
		OutBytes:     rc.outBytes.Load(),
	}
	if a, ok := r.conn.RemoteAddr().(*net.TCPAddr); ok {
		s.IP, s.Port = a.IP.String(), a.Port
	}
	r.mu.Lock()
	s.Pending = r.mu.out.size + r.mu.inFlight
	r.mu.Unlock()
	r.interest.RLock()
	for _, idx := range r.interest.byAccount {
		s.Subscriptions += idx.Count()
	}
	r.interest.RUnlock()
	return s
}

// configured reports whether addr is one of Options.Routes.
func (c *Cluster) configured(addr string) bool {
	for _, u := range c.opts.Routes {
		if u.Host == addr {
			return true
		}
	}
	return false
}

// read records activity: the reader got bytes from the peer.
func (rc *routeCounters) read() { rc.lastActivity.Store(time.Now().UnixNano()) }

// AuthTimeout returns the handshake's deadline in force (Options'
// default applied).
func (c *Cluster) AuthTimeout() time.Duration { return c.opts.AuthTimeout }
