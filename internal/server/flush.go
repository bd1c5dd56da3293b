package server

import (
	"net"
	"sync"
	"time"
)

// inlineLimit is the most a reader writes to a socket itself; larger
// backlogs go to that client's writer goroutine, so one slow socket
// cannot hold a publisher for long, and a stream of messages is written
// on the other core while the publisher's reader goes on parsing (8 KiB
// measured better than 64 KiB for one publisher to one subscriber, and
// the same for request/reply: bench/run, 2026-11-25).
const inlineLimit = 8 * 1024

// inlineDeadline bounds a write in place: a reader never waits longer on
// another client's socket; what is left goes to that client's writer.
const inlineDeadline = 20 * time.Millisecond

// writeOut writes the pending outbound bytes to the socket. With blocking
// false (a write in place) it gives up, reporting false, when another
// goroutine is writing, and hands back to the writer whatever the socket
// does not take within inlineDeadline.
func (c *client) writeOut(blocking bool) (bool, error) {
	if blocking {
		c.wmu.Lock()
	} else if !c.wmu.TryLock() {
		return false, nil
	}
	defer c.wmu.Unlock()
	c.mu.Lock()
	out := c.mu.out
	if len(out) == 0 {
		c.mu.Unlock()
		return true, nil
	}
	// The spare buffer is only touched under wmu, so swapping is safe.
	c.mu.out = c.mu.spare[:0]
	c.mu.spare = nil
	c.mu.Unlock()

	deadline := c.srv.opts.WriteDeadline
	if !blocking {
		deadline = min(deadline, inlineDeadline)
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(deadline))
	n, err := c.conn.Write(out)
	if err != nil && !blocking && isTimeout(err) {
		// Put the unwritten rest back in front of what was queued since,
		// and let the writer goroutine finish with its full deadline.
		c.mu.Lock()
		rest := make([]byte, 0, len(out)-n+len(c.mu.out))
		rest = append(append(rest, out[n:]...), c.mu.out...)
		c.mu.out = rest
		c.mu.Unlock()
		c.kick()
		return true, nil
	}

	c.mu.Lock()
	switch {
	case len(c.mu.out) == 0:
		// Drained: the burst, if any, is over. Large buffers go back
		// to the pool, so an idle connection holds little however
		// large its last messages were (nats-server, too, returns its
		// outbound buffers to a pool after each flush).
		if cap(c.mu.out) > outKeep {
			putOutBuf(c.mu.out)
			c.mu.out = nil
		}
		if cap(out) > outKeep {
			putOutBuf(out)
		} else {
			c.mu.spare = out[:0]
		}
	case cap(out) <= outKeepBusy:
		// More is queued: keep the buffer for the next round.
		c.mu.spare = out[:0]
	}
	if c.mu.stall != nil {
		close(c.mu.stall)
		c.mu.stall = nil
	}
	c.mu.stallMissed = false
	c.mu.Unlock()
	return true, err
}

// Outbound buffers kept after a write: up to outKeep bytes when nothing
// more is queued, up to outKeepBusy while the client streams. A
// subscriber fed from a route (a whole 32 KiB read of messages at a
// time) ran megabytes behind its writer before the route's reader was
// held back at routeStallAt (route_flush.go); keeping 1 MiB made its
// buffer grow by doubling again at every write (1 KiB messages across
// a route: 290k → 390k msgs/s with 4 MiB, in one process). Only a
// client that is behind holds that much; a drained one keeps outKeep.
const (
	outKeep     = 64 * 1024
	outKeepBusy = 4 << 20
)

// outPool holds large outbound buffers that drained connections gave
// back, for the next delivery to a connection without one: a client that
// streams gets one from the pool at every burst instead of growing a new
// buffer by appends.
var outPool sync.Pool // of *[]byte

// putOutBuf gives a large buffer to the pool.
func putOutBuf(b []byte) {
	if cap(b) > outKeep && cap(b) <= outKeepBusy {
		b = b[:0]
		outPool.Put(&b)
	}
}

// getOutBuf returns an empty buffer from the pool, or nil.
func getOutBuf() []byte {
	if p, _ := outPool.Get().(*[]byte); p != nil {
		return *p
	}
	return nil
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// writeFailed closes a client whose socket write failed.
func (c *client) writeFailed(err error) {
	if isTimeout(err) {
		c.slowConsumer("WriteDeadline of " + c.srv.opts.WriteDeadline.String() + " exceeded")
		return
	}
	c.closeConnection("Write Error")
}

// flushDeferred runs on the reader goroutine after it has processed a
// read: it writes this client's own pending output and that of every
// client it delivered to, in place when small and nobody else is writing,
// else by waking the client's writer.
func (c *client) flushDeferred() {
	c.flushInline()
	for t := range c.pcd {
		delete(c.pcd, t)
		t.flushInline()
	}
}

func (c *client) flushInline() {
	c.mu.Lock()
	n, closed := len(c.mu.out), c.mu.closed
	c.mu.Unlock()
	switch {
	case n == 0:
		return
	case closed || n > inlineLimit:
		c.kick()
		return
	}
	wrote, err := c.writeOut(false)
	switch {
	case err != nil:
		c.writeFailed(err)
	case !wrote:
		c.kick()
	}
}
