package server

import "time"

// Round trip times, for /connz's rtt, measured as nats-server does: the
// time from a PING the server sends to the client's PONG. Every PING of
// the ping timer measures it; a client whose round trip is not known
// yet gets a PING when a monitor reads it, once it has sent its own
// first PING (clients send CONNECT and PING and wait for the PONG) or
// rttFirstPingWait after it connected, and only if it named its
// language (tests and telnet sessions are left alone, as by
// nats-server).

// rttFirstPingWait is how long after accepting a client that never sent
// a PING the server may send one to measure the round trip.
const rttFirstPingWait = 2 * time.Second

// roundTripLocked returns the latest round trip time of c, 0 when none
// was measured yet, and whether a PING must be sent to measure it (the
// caller queues it once c.mu is released). c.mu is held.
func (c *client) roundTripLocked(lang string) (time.Duration, bool) {
	if rtt := c.rtt.Load(); rtt > 0 {
		return time.Duration(rtt), false
	}
	if lang == "" || c.mu.closed || !c.mu.rttStart.IsZero() || (!c.mu.pongSent && time.Since(c.accepted) <= rttFirstPingWait) {
		return 0, false
	}
	c.mu.rttStart = time.Now()
	c.mu.pingsOut++
	return 0, true
}
