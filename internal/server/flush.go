package server

import (
	"net"
	"time"
)

// inlineLimit is the most a reader writes to a socket itself; larger
// backlogs go to that client's writer goroutine, so one slow socket
// cannot hold a publisher for long, and a stream of messages is written
// on the other core while the publisher's reader goes on parsing (8 KiB
// measured better than 64 KiB for one publisher to one subscriber, and
// the same for request/reply: bench/run, 2026-11-25).
const inlineLimit = 8 * 1024

// writeOut writes the pending outbound bytes to the socket. With blocking
// false it gives up, reporting false, when another goroutine is writing.
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

	_ = c.conn.SetWriteDeadline(time.Now().Add(c.srv.opts.WriteDeadline))
	_, err := c.conn.Write(out)

	c.mu.Lock()
	if cap(out) <= 1<<20 {
		c.mu.spare = out[:0]
	}
	if c.mu.stall != nil {
		close(c.mu.stall)
		c.mu.stall = nil
	}
	c.mu.Unlock()
	return true, err
}

// writeFailed closes a client whose socket write failed.
func (c *client) writeFailed(err error) {
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
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
