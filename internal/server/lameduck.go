package server

import (
	"math/rand/v2"
	"time"

	"github.com/cairn-db/cairn/internal/wire"
)

// Lame duck mode takes a server out of service gently, as nats-server's
// (SIGUSR2, --signal ldm): the listener is closed so no client can
// connect, clients that announced protocol 1 get an INFO with
// "ldm": true (nats.go calls its LameDuckModeHandler), and after a grace
// period the remaining clients are closed one by one, spread over the
// rest of the lame duck duration, so that they reconnect to the other
// servers of their URL list a few at a time instead of all at once.
//
// Unlike nats-server, which shuts JetStream down as lame duck mode
// begins (it hands its Raft leaderships over), Cairn keeps serving the
// clients still connected until each is closed: a single server has no
// one to hand its buckets to, and a write it acknowledges is stored
// before the store is closed by the shutdown that follows.

// Defaults of lame_duck_duration and lame_duck_grace_period, as in
// nats-server; MinLameDuckDuration is the shortest duration it accepts.
const (
	DefaultLameDuckDuration    = 2 * time.Minute
	DefaultLameDuckGracePeriod = 10 * time.Second
	MinLameDuckDuration        = 30 * time.Second
)

// ldmMaxInterval caps the pause between two clients closed: there is no
// need to spread ten clients over two minutes.
const ldmMaxInterval = time.Second

// LameDuck runs lame duck mode and returns when every client it found
// has been closed, or at once when there is none; the caller then shuts
// the server (and its storage) down. duration is the time over which
// clients are closed, grace the wait before the first is closed (after
// the INFO), counted within duration; zero takes the defaults. It
// returns false, doing nothing, when the server is shutting down or
// already in lame duck mode, and returns early when Shutdown is called.
func (s *Server) LameDuck(duration, grace time.Duration) bool {
	if duration <= 0 {
		duration = DefaultLameDuckDuration
	}
	if grace <= 0 {
		grace = DefaultLameDuckGracePeriod
	}
	s.mu.Lock()
	if s.mu.shutdown || s.mu.ldm || s.listener == nil {
		s.mu.Unlock()
		return false
	}
	s.log.Noticef("Entering lame duck mode, stop accepting new clients")
	s.mu.ldm = true
	s.mu.Unlock()
	s.listener.Close()
	<-s.done
	// Connections accepted before the listener closed may still be in
	// their TLS handshake; they register (or fail) within its timeout.
	s.handshakes.Wait()

	clients := s.ldmClients()
	if len(clients) == 0 {
		return true
	}
	for _, c := range clients {
		c.sendLDMInfo()
	}
	interval, batch := ldmPace(duration-grace, len(clients))
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.quit:
		return true
	}
	s.log.Noticef("Closing existing clients")
	for i, c := range clients {
		c.closeConnection("Server Shutdown")
		if i == len(clients)-1 || (batch > 1 && i%batch != 0) {
			continue
		}
		// A random pause of at least half the interval, so that
		// clients do not all come back to the next server in step.
		pause := interval/2 + rand.N(interval/2+1)
		t.Reset(pause)
		select {
		case <-t.C:
		case <-s.quit:
			return true
		}
	}
	return true
}

// InLameDuckMode reports whether lame duck mode has begun.
func (s *Server) InLameDuckMode() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.ldm
}

// ldmClients returns the registered clients in random order.
func (s *Server) ldmClients() []*client {
	s.mu.Lock()
	clients := make([]*client, 0, len(s.mu.clients))
	for _, c := range s.mu.clients {
		clients = append(clients, c)
	}
	s.mu.Unlock()
	rand.Shuffle(len(clients), func(i, j int) { clients[i], clients[j] = clients[j], clients[i] })
	return clients
}

// ldmPace returns the pause between two closes and how many clients
// are closed per pause, spreading n clients over d (at least a second),
// with pauses of at most ldmMaxInterval.
func ldmPace(d time.Duration, n int) (time.Duration, int) {
	if d <= 0 {
		d = time.Second
	}
	if n <= 0 {
		return 0, 1
	}
	interval := d / time.Duration(n)
	switch {
	case interval < time.Millisecond:
		// Very many clients, or under a millisecond left after the
		// grace period: close them in batches, a millisecond apart,
		// still within d where it holds a millisecond.
		return time.Millisecond, max(1, n/max(1, int(d/time.Millisecond)))
	case interval > ldmMaxInterval:
		return ldmMaxInterval, 1
	}
	return interval, 1
}

// sendLDMInfo sends INFO with "ldm": true to a client that announced
// protocol 1 (asynchronous INFO), as nats-server does; older clients
// would not expect an INFO after CONNECT.
func (c *client) sendLDMInfo() {
	c.mu.Lock()
	proto, closed := c.opts.Protocol, c.mu.closed
	c.mu.Unlock()
	if closed || proto < 1 {
		return
	}
	c.log.Debugf("%s - Sending Lame Duck Mode info to client", c)
	c.queue(wire.AppendInfo(nil, c.srv.infoJSONLDM(c, true)))
}

// waitReader waits up to d for the client's reader goroutine to return,
// so that an operation it was running (a publish being stored) is over.
func (c *client) waitReader(d time.Duration) {
	t := time.NewTimer(max(d, 0))
	defer t.Stop()
	select {
	case <-c.readDone:
	case <-t.C:
	}
}
