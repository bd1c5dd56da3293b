package consumer

import (
	"strconv"
	"time"

	"github.com/cairn-db/cairn/internal/wire"
)

// flowControlAfter counts delivered bytes and sends a flow-control
// request after each chunk. It reports false when the consumer stopped
// while waiting for answers.
func (c *Consumer) flowControlAfter(n int) bool {
	c.mu.Lock()
	c.mu.fcBytes += n
	if c.mu.fcBytes < fcChunk {
		c.mu.Unlock()
		return true
	}
	c.mu.fcBytes = 0
	c.mu.fcSent++
	id := c.mu.fcSent
	c.mu.Unlock()
	hdr := wire.NewStatusHeader(100, "FlowControl Request").Bytes()
	c.bus.PublishAs(c.deliverTo, c.deliverTo, []byte(c.fcPrefix+strconv.FormatUint(id, 10)), hdr, nil)
	return c.waitFlowControl()
}

// waitFlowControl blocks while too many requests are unanswered. It
// reports false when the consumer was stopped, or removed itself because
// its deliver subject lost interest: a client that went away never
// answers.
func (c *Consumer) waitFlowControl() bool {
	w := c.newWaiter()
	defer w.stop()
	for {
		if !c.fcBlocked() {
			return true
		}
		select {
		case <-c.quit:
			return false
		case <-c.wake:
		case <-w.heartbeat:
			c.heartbeat()
		case now := <-w.interest.C:
			if w.abandoned(c, now) {
				c.gone()
				return false
			}
		}
	}
}

// fcBlocked reports whether delivery must wait for flow-control answers.
func (c *Consumer) fcBlocked() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.fcSent-c.mu.fcAcked >= fcMaxOutstanding
}

// waiter holds the timers a consumer watches while it waits: idle
// heartbeats (nil channel when disabled) and the interest check.
type waiter struct {
	heartbeat <-chan time.Time
	hb        *time.Ticker
	interest  *time.Ticker
	idleTracker
}

func (c *Consumer) newWaiter() *waiter {
	w := &waiter{interest: time.NewTicker(min(max(c.cfg.InactiveThreshold/4, 50*time.Millisecond), time.Second))}
	if c.cfg.IdleHeartbeat > 0 {
		w.hb = time.NewTicker(c.cfg.IdleHeartbeat)
		w.heartbeat = w.hb.C
	}
	return w
}

func (w *waiter) stop() {
	w.interest.Stop()
	if w.hb != nil {
		w.hb.Stop()
	}
}

// idleTracker measures how long a deliver subject has lacked interest.
type idleTracker struct{ since time.Time }

// abandoned reports whether c's deliver subject has had no subscriber
// for interestLimit, as of now.
func (t *idleTracker) abandoned(c *Consumer, now time.Time) bool {
	if c.bus.HasInterest(c.cfg.DeliverSubject) {
		t.since = time.Time{}
		return false
	}
	if t.since.IsZero() {
		t.since = now
	}
	return now.Sub(t.since) >= c.interestLimit()
}

// flowControlReply handles a client's answer to a flow-control request.
func (c *Consumer) flowControlReply(subj, _ string, _, _ []byte) {
	id, err := strconv.ParseUint(subj[len(c.fcPrefix):], 10, 64)
	if err != nil {
		return
	}
	c.mu.Lock()
	if id > c.mu.fcAcked && id <= c.mu.fcSent {
		c.mu.fcAcked = id
	}
	c.mu.Unlock()
	c.signal()
}

// heartbeat sends an idle heartbeat with the last sequences, and the
// pending flow-control subject when delivery is stalled on it.
func (c *Consumer) heartbeat() {
	c.mu.Lock()
	dseq, sseq := c.mu.dseq, c.mu.lastStream
	var stalled string
	if c.mu.fcSent > c.mu.fcAcked {
		stalled = c.fcPrefix + strconv.FormatUint(c.mu.fcSent, 10)
	}
	c.mu.Unlock()
	b := wire.NewStatusHeader(100, "Idle Heartbeat").
		Add("Nats-Last-Consumer", strconv.FormatUint(dseq, 10)).
		Add("Nats-Last-Stream", strconv.FormatUint(sseq, 10))
	if stalled != "" {
		b.Add("Nats-Consumer-Stalled", stalled)
	}
	c.bus.PublishAs(c.deliverTo, c.deliverTo, nil, b.Bytes(), nil)
}
