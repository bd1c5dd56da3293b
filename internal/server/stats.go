package server

import (
	"crypto/tls"
	"sync/atomic"
	"time"
)

// Counters. In-bound messages are counted by each client's reader per
// read (not per message): it counts the messages of the read in plain
// fields and adds them to its own and the server's atomic totals once
// the read is processed. Out-bound messages are counted under the
// receiving client's mu, where delivery already is, and folded into the
// server's totals when the client is removed, under Server.mu, so that
// Stats counts every delivery exactly once. Messages are those of
// client connections: in-process publishes and deliveries to in-process
// handlers (the JetStream API, consumers) are not counted.

// serverStats are the server-wide totals; all atomic.
type serverStats struct {
	inMsgs, inBytes  atomic.Int64
	totalConnections atomic.Uint64
	slowConsumers    atomic.Int64
	staleConnections atomic.Int64
	configLoadTimeNs atomic.Int64
}

// clientStats are one client's counters. in* are written by the reader
// once per read; batch* are the reader's counts of the read in progress
// (reader goroutine only); out* are guarded by the client's mu.
type clientStats struct {
	inMsgs, inBytes       atomic.Int64
	batchMsgs, batchBytes int64
}

// countIn counts one message read from the client (reader goroutine).
func (c *client) countIn(size int) {
	c.stats.batchMsgs++
	c.stats.batchBytes += int64(size)
}

// foldIn adds the messages of the read just processed to the totals
// (reader goroutine).
func (c *client) foldIn() {
	if c.stats.batchMsgs == 0 {
		return
	}
	c.stats.inMsgs.Add(c.stats.batchMsgs)
	c.stats.inBytes.Add(c.stats.batchBytes)
	c.srv.stats.inMsgs.Add(c.stats.batchMsgs)
	c.srv.stats.inBytes.Add(c.stats.batchBytes)
	c.stats.batchMsgs, c.stats.batchBytes = 0, 0
	c.lastActivity.Store(time.Now().UnixNano())
}

// Stats are the server's counters and gauges at one moment.
type Stats struct {
	Start time.Time // when Start was called
	// ConfigLoadTime is when the configuration was loaded (New) or last
	// reloaded.
	ConfigLoadTime time.Time
	// Connections are the clients connected now; TotalConnections those
	// accepted since start (refused ones excluded).
	Connections      int
	TotalConnections uint64
	// Subscriptions are the subscriptions of every account, in-process
	// ones included.
	Subscriptions int
	// InMsgs and InBytes are the messages published by clients and
	// their sizes (headers and payload); OutMsgs and OutBytes those
	// delivered to clients.
	InMsgs, InBytes, OutMsgs, OutBytes int64
	// SlowConsumers and StaleConnections count clients closed as slow
	// consumers and as stale (unanswered pings).
	SlowConsumers, StaleConnections int64
}

// Stats returns the server's counters. It is safe to call at any time,
// and cheap: it takes each client's lock briefly, one at a time.
// Counters never go backwards between calls.
func (s *Server) Stats() Stats {
	st := Stats{
		Start:            s.started,
		ConfigLoadTime:   time.Unix(0, s.stats.configLoadTimeNs.Load()),
		TotalConnections: s.stats.totalConnections.Load(),
		SlowConsumers:    s.stats.slowConsumers.Load(),
		StaleConnections: s.stats.staleConnections.Load(),
		Subscriptions:    s.NumSubscriptions(),
	}
	// Out counts: the removed clients' totals and the live clients,
	// taken together under mu (removeClient folds and deletes under it).
	s.mu.Lock()
	st.OutMsgs, st.OutBytes = s.mu.outMsgs, s.mu.outBytes
	clients := make([]*client, 0, len(s.mu.clients))
	for _, c := range s.mu.clients {
		clients = append(clients, c)
	}
	s.mu.Unlock()
	st.Connections = len(clients)
	for _, c := range clients {
		c.mu.Lock()
		st.OutMsgs += c.mu.outMsgs
		st.OutBytes += c.mu.outBytes
		c.mu.Unlock()
	}
	// In last: a message counted out above was read before (or is an
	// in-process publish), so in_msgs is not behind what it caused.
	st.InMsgs, st.InBytes = s.stats.inMsgs.Load(), s.stats.inBytes.Load()
	return st
}

// Settings are the server's limits and security settings as
// configured, for monitoring. They hold no secret.
type Settings struct {
	Host           string
	Port           int // the bound port (after Start)
	MaxConnections int
	// MaxSubscriptions is per connection; 0 is no limit.
	MaxSubscriptions int
	PingInterval     time.Duration
	MaxPingsOut      int
	AuthTimeout      time.Duration
	MaxControlLine   int
	MaxPayload       int
	MaxPending       int
	TLSTimeout       time.Duration
	WriteDeadline    time.Duration
	// AuthRequired: clients must authenticate. TLSRequired: clients
	// must use TLS; TLSVerify: and present a verified certificate.
	AuthRequired, TLSRequired, TLSVerify bool
	JetStream                            bool
}

// Settings returns the settings in force (authentication and TLS as of
// the last reload).
func (s *Server) Settings() Settings {
	o := &s.opts
	st := Settings{
		Host:             o.Host,
		Port:             o.Port,
		MaxConnections:   o.MaxConnections,
		MaxSubscriptions: o.MaxSubscriptions,
		PingInterval:     o.PingInterval,
		MaxPingsOut:      o.MaxPingsOut,
		AuthTimeout:      s.authn().Timeout(),
		MaxControlLine:   o.MaxControlLine,
		MaxPayload:       o.MaxPayload,
		MaxPending:       o.MaxPending,
		TLSTimeout:       o.TLSTimeout,
		WriteDeadline:    o.WriteDeadline,
		AuthRequired:     s.authn().Advertised(),
		JetStream:        o.JetStream,
	}
	if st.TLSTimeout <= 0 {
		st.TLSTimeout = DefaultTLSTimeout // as nats-server reports without TLS
	}
	if s.listener != nil {
		st.Port = s.Addr().Port
	}
	if cfg := s.tlsConf.Load(); cfg != nil {
		st.TLSRequired = !o.AllowNonTLS
		st.TLSVerify = cfg.ClientAuth == tls.RequireAndVerifyClientCert
	}
	return st
}

// TLSConfig returns the TLS configuration new client handshakes use
// (as of the last reload), nil without TLS. It is shared: the caller
// must not modify it (Clone it first). The monitor serves HTTPS with
// it, as nats-server serves https_port with its tls block.
func (s *Server) TLSConfig() *tls.Config { return s.tlsConf.Load() }
