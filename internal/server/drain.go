package server

import "time"

// WaitDrained blocks while a client subscribed to subj (a requester's
// inbox) holds more than limit bytes of output not yet written: its
// writer is woken and the caller waits for it, each client for at most
// the server's write deadline. An in-process handler that sends a large
// answer calls it between parts, so that the answer goes out at the
// pace the client reads it instead of piling up in the client's buffer
// until the client is cut off as a slow consumer. A client that does
// not read within the write deadline is left to that rule.
func (a *Account) WaitDrained(subj string, limit int) {
	for _, sub := range a.subs.Match(subj).Plain {
		if c := sub.client; c != nil {
			c.waitDrained(limit, a.srv.opts.WriteDeadline)
		}
	}
}

// waitDrained waits, at most max, until c's pending output is limit
// bytes or less, or c is closed.
func (c *client) waitDrained(limit int, max time.Duration) {
	deadline := time.Now().Add(max)
	for {
		c.mu.Lock()
		if c.mu.closed || len(c.mu.out) <= limit {
			c.mu.Unlock()
			return
		}
		if c.mu.stall == nil {
			c.mu.stall = make(chan struct{})
		}
		stall := c.mu.stall
		c.mu.Unlock()
		c.kick()
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		t := time.NewTimer(left)
		select {
		case <-stall:
		case <-t.C:
		}
		t.Stop()
	}
}
