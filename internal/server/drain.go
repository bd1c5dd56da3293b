package server

import "time"

// WaitDrained blocks while a client subscribed to subj (a requester's
// inbox) holds more than limit bytes of output not yet written: its
// writer is woken and the caller waits for it, each client for at most
// the server's write deadline. An in-process handler that sends a large
// answer calls it between parts, so that the answer goes out at the
// pace the client reads it instead of piling up in the client's buffer
// until the client is cut off as a slow consumer. A client that does
// not read within the write deadline is left to that rule. It reports
// whether anyone still listens on subj: false once every client
// subscribed to it is closed (cut off as a slow consumer, say) and no
// in-process subscription matches, so the handler can stop.
//
// On a cluster node a listener may be remote: the routes to peers with
// interest in subj are waited for in the same way (until each holds
// limit bytes or less of unsent output, or the write deadline passes),
// and subj counts as listened to while a peer has interest.
func (a *Account) WaitDrained(subj string, limit int) bool {
	listening := false
	for _, sub := range a.subs.Match(subj).Plain {
		c := sub.client
		if c == nil {
			listening = true
			continue
		}
		if c.waitDrained(limit, a.srv.opts.WriteDeadline) {
			listening = true
		}
	}
	if box := a.cluster.Load(); box != nil && box.h.WaitDrained(a.name, []byte(subj), limit, a.srv.opts.WriteDeadline) {
		listening = true
	}
	return listening
}

// waitDrained waits, at most max, until c's pending output is limit
// bytes or less, or c is closed; it reports whether c is still open.
func (c *client) waitDrained(limit int, max time.Duration) bool {
	deadline := time.Now().Add(max)
	for {
		c.mu.Lock()
		if c.mu.closed || len(c.mu.out) <= limit {
			open := !c.mu.closed
			c.mu.Unlock()
			return open
		}
		if c.mu.stall == nil {
			c.mu.stall = make(chan struct{})
		}
		stall := c.mu.stall
		c.mu.Unlock()
		c.kick()
		left := time.Until(deadline)
		if left <= 0 {
			return true
		}
		t := time.NewTimer(left)
		select {
		case <-stall:
		case <-t.C:
		}
		t.Stop()
	}
}
