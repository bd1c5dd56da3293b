package server

import (
	"crypto/tls"
	"net/netip"
	"sort"
	"time"

	"github.com/cairn-db/cairn/internal/wire"
)

// ConnInfo describes one client connection, for monitoring (/connz). It
// holds no credential: the user name only, never a password, token,
// nkey signature or seed.
type ConnInfo struct {
	CID   uint64
	IP    string
	Port  int
	Start time.Time
	// LastActivity is the end of the latest read that held messages,
	// else Start.
	LastActivity time.Time
	// Pending is the outbound bytes not yet written.
	Pending                            int
	InMsgs, OutMsgs, InBytes, OutBytes int64
	NumSubs                            int
	// Name, Lang and Version are the client's CONNECT fields.
	Name, Lang, Version string
	// User is who the client authenticated as ("" without a user);
	// Account its account's name.
	User, Account string
	// TLSVersion and TLSCipherSuite are the connection's TLS version
	// and cipher suite (crypto/tls constants), 0 without TLS.
	TLSVersion, TLSCipherSuite uint16
	// RTT is the latest round trip time measured (rtt.go), 0 if none.
	RTT time.Duration
	// Subs are the client's subscriptions, sorted by sid, when asked.
	Subs []SubInfo
}

// SubInfo is one subscription of a client.
type SubInfo struct {
	Subject, Queue, SID string
	// Delivered counts the messages delivered; Max is the auto-
	// unsubscribe limit (0: none).
	Delivered, Max int64
}

// Conns returns the open client connections in no particular order,
// with their subscriptions when withSubs. Each client's fields are read
// under its own lock, one client at a time.
func (s *Server) Conns(withSubs bool) []ConnInfo {
	s.mu.Lock()
	clients := make([]*client, 0, len(s.mu.clients))
	for _, c := range s.mu.clients {
		clients = append(clients, c)
	}
	s.mu.Unlock()
	out := make([]ConnInfo, 0, len(clients))
	for _, c := range clients {
		out = append(out, c.info(withSubs))
	}
	return out
}

func (c *client) info(withSubs bool) ConnInfo {
	ci := c.baseInfo()
	c.mu.Lock()
	c.fillInfoLocked(&ci, withSubs, -1)
	rtt, ping := c.roundTripLocked(ci.Lang)
	c.mu.Unlock()
	ci.RTT = rtt
	if ping {
		c.log.Tracef("%s - ->> [PING]", c)
		c.queue(wire.Ping)
	}
	sort.Slice(ci.Subs, func(i, j int) bool { return ci.Subs[i].SID < ci.Subs[j].SID })
	return ci
}

// baseInfo returns what info reports that the client's lock does not
// guard.
func (c *client) baseInfo() ConnInfo {
	ci := ConnInfo{
		CID:          c.cid,
		IP:           c.host,
		Port:         c.remotePort(),
		Start:        c.accepted,
		LastActivity: c.accepted,
		InMsgs:       c.stats.inMsgs.Load(),
		InBytes:      c.stats.inBytes.Load(),
		Account:      c.account().Name(),
		RTT:          time.Duration(c.rtt.Load()),
	}
	if tc, ok := c.conn.(*tls.Conn); ok {
		// Registered clients have completed their handshake (tls.go),
		// so this does not wait.
		cs := tc.ConnectionState()
		ci.TLSVersion, ci.TLSCipherSuite = cs.Version, cs.CipherSuite
	}
	if ns := c.lastActivity.Load(); ns != 0 {
		ci.LastActivity = time.Unix(0, ns)
	}
	return ci
}

// fillInfoLocked adds to ci what c.mu guards; with withSubs, the
// subscriptions, at most maxSubs of them unless maxSubs < 0. Its
// caller holds c.mu.
func (c *client) fillInfoLocked(ci *ConnInfo, withSubs bool, maxSubs int) {
	ci.Pending = len(c.mu.out)
	ci.OutMsgs, ci.OutBytes = c.mu.outMsgs, c.mu.outBytes
	ci.NumSubs = len(c.mu.subs)
	ci.Name, ci.Lang, ci.Version = c.opts.Name, c.opts.Lang, c.opts.Version
	if c.mu.auth != nil {
		ci.User = c.mu.auth.id.Name
	}
	if withSubs {
		n := len(c.mu.subs)
		if maxSubs >= 0 {
			n = min(n, maxSubs)
		}
		ci.Subs = make([]SubInfo, 0, n)
		for _, sub := range c.mu.subs {
			if len(ci.Subs) == n {
				break
			}
			ci.Subs = append(ci.Subs, SubInfo{Subject: sub.subject, Queue: sub.queue, SID: sub.sid, Delivered: sub.delivered, Max: sub.max})
		}
	}
}

// remotePort returns the client's port.
func (c *client) remotePort() int {
	if a, ok := c.conn.RemoteAddr().(interface{ AddrPort() netip.AddrPort }); ok {
		return int(a.AddrPort().Port())
	}
	return 0
}
