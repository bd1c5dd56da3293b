package server

import "time"

// Flushing for a route's reader. A routed message given to a client
// subscription (DeliverFromRoute) is appended to its outbound buffer;
// as for a publishing client's reader (flushDeferred), the route's
// reader flushes the clients it delivered to once it has processed a
// read: in place when little is pending and nobody else writes, else
// by waking the client's writer, once per read instead of once per
// message.
//
// It also holds the reader back, briefly, for a subscriber whose writer
// is far behind: a route delivers a whole 32 KiB read at a time with no
// publisher to slow down, so without it the subscriber's buffer ran
// megabytes ahead of its writer and grew by doubling at every write (a
// quarter of the CPU for 1 KiB messages across a route). nats-server
// stalls route producers too. The wait is bounded per read
// (stallTimeout in all), and not repeated for a writer that did not
// finish a write within it: the route also carries other subscribers'
// messages and Raft, and a subscriber that stays behind still reaches
// MaxPending or its WriteDeadline and is cut.

// routeStallAt is how many bytes a subscriber's output may run ahead of
// its writer before a route's reader waits for the writer (or less:
// three quarters of MaxPending, as for client publishers).
const routeStallAt = 1 << 20

// RouteFlush is one route reader's set of clients to flush. It is used
// by that reader goroutine only.
type RouteFlush struct {
	clients map[*client]struct{}
}

// NewRouteFlush returns an empty set for one route reader.
func NewRouteFlush() *RouteFlush {
	return &RouteFlush{clients: make(map[*client]struct{})}
}

// Flush flushes every client delivered to since the last Flush, and
// waits up to stallTimeout in all for the writers of those far behind.
// The route's reader calls it after each read it processed.
func (f *RouteFlush) Flush() {
	if len(f.clients) == 0 {
		return
	}
	var timer *time.Timer
	expired := false
	for c := range f.clients {
		delete(f.clients, c)
		c.flushInline()
		if expired {
			continue
		}
		stall := c.routeStall()
		if stall == nil {
			continue
		}
		if timer == nil {
			timer = time.NewTimer(stallTimeout)
		}
		select {
		case <-stall:
		case <-timer.C:
			expired = true
			c.mu.Lock()
			if c.mu.stall == stall {
				c.mu.stallMissed = true
			}
			c.mu.Unlock()
		}
	}
	if timer != nil {
		timer.Stop()
	}
}

// routeStall returns a channel the writer closes after its next write
// when c's pending output is past routeStallAt, else nil. It is nil as
// well while a route reader's earlier wait on the same write timed out.
func (c *client) routeStall() chan struct{} {
	limit := min(routeStallAt, c.srv.opts.MaxPending*3/4)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed || c.mu.stallMissed || len(c.mu.out) <= limit {
		return nil
	}
	if c.mu.stall == nil {
		c.mu.stall = make(chan struct{})
	}
	return c.mu.stall
}
