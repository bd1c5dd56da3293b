package consumer

import (
	"errors"
	"strconv"
	"time"

	"github.com/cairn-db/cairn/internal/store"
)

// deliverSnapshot delivers the initial data of a last_per_subject
// consumer: the last message of every matching subject as of creation
// (the snapshot), in sequence order. It reports false when the consumer
// stopped, or failed on a store error.
//
// One message of look-ahead makes the pending count exact where it
// matters: the last message of the snapshot carries 0 exactly when
// nothing matching was stored since creation, and no earlier one does.
func (c *Consumer) deliverSnapshot() bool {
	live := c.snap.LastSeq() + 1
	var held *store.Msg
	for {
		m, err := c.snap.Next()
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if err != nil {
			c.fail(err)
			return false
		}
		if held != nil {
			left := uint64(c.snap.Remaining()) + 1 // m and what follows
			c.mu.Lock()
			c.mu.initial = left
			c.mu.Unlock()
			if !c.deliver(held, left+c.appended.Load(), live) {
				return false
			}
		}
		held = m
	}
	if held == nil {
		return !c.stopped()
	}
	var pending uint64
	switch _, err := c.next(live); {
	case err == nil:
		pending = max(c.appended.Load(), 1)
	case !errors.Is(err, store.ErrNotFound):
		c.fail(err)
		return false
	}
	c.mu.Lock()
	c.mu.initial = 0
	c.mu.Unlock()
	return c.deliver(held, pending, live)
}

// deliverLive delivers every matching message from the current position
// and then waits for more, until stopped.
//
// It searches the stream only when it may find something: at the start,
// when a matching message was stored, and when flow control lets it go
// on; a search that finds nothing moves the position past everything
// examined (find). Heartbeats and interest checks do not search.
func (c *Consumer) deliverLive() {
	w := c.newWaiter()
	defer w.stop()
	// Pending counts: one count now, then an estimate kept by counting
	// deliveries and appends. Whether pending is 0 (the end of the data
	// a client waits for) is always exact: each message is delivered
	// after looking one matching message ahead.
	appendedBase := c.appended.Load()
	c.mu.Lock()
	seq := c.mu.sseq
	c.mu.Unlock()
	base := c.pendingAfter(seq - 1)
	var delivered uint64
	var ahead *store.Msg
	search := true
	for {
		if search && !c.fcBlocked() {
			m, err := ahead, error(nil)
			if m == nil {
				m, err = c.find(&seq)
			}
			ahead = nil
			if err == nil {
				var pending uint64
				after := m.Seq + 1
				nxt, err := c.find(&after)
				switch {
				case err == nil:
					ahead = nxt
					est := int64(base+c.appended.Load()-appendedBase) - int64(delivered+1)
					pending = uint64(max(est, 1))
				case !errors.Is(err, store.ErrNotFound):
					c.fail(err)
					return
				}
				if !c.deliver(m, pending, after) {
					return
				}
				delivered++
				seq = after
				continue
			}
			if !errors.Is(err, store.ErrNotFound) {
				c.fail(err)
				return
			}
			search = false
			c.mu.Lock()
			c.mu.sseq = seq
			c.mu.Unlock()
		}
		select {
		case <-c.quit:
			return
		case <-c.wake:
			search = true
		case <-w.heartbeat:
			c.heartbeat()
		case now := <-w.interest.C:
			if w.abandoned(c, now) {
				c.gone()
				return
			}
		}
	}
}

// deliver publishes one message; next is the stream sequence to examine
// live after it. It reports false when the consumer was stopped
// meanwhile.
func (c *Consumer) deliver(m *store.Msg, pending, next uint64) bool {
	if c.stopped() || !c.waitInterest() {
		return false
	}
	c.mu.Lock()
	c.mu.dseq++
	dseq := c.mu.dseq
	c.mu.sseq = next
	c.mu.lastStream = m.Seq
	c.mu.lastActive = time.Now()
	c.mu.Unlock()

	reply := append(c.scratch.reply[:0], c.ackPrefix...)
	reply = strconv.AppendUint(reply, m.Seq, 10)
	reply = append(reply, '.')
	reply = strconv.AppendUint(reply, dseq, 10)
	reply = append(reply, '.')
	reply = strconv.AppendInt(reply, m.Time, 10)
	reply = append(reply, '.')
	reply = strconv.AppendUint(reply, pending, 10)
	c.scratch.reply = reply

	hdr, data := m.Header, m.Data
	if c.cfg.HeadersOnly {
		c.scratch.hdr = appendHeader(c.scratch.hdr[:0], hdr, "Nats-Msg-Size", strconv.Itoa(len(data)))
		hdr, data = c.scratch.hdr, nil
	}
	c.scratch.subj = append(c.scratch.subj[:0], m.Subject...)
	c.bus.PublishAs(c.deliverTo, c.scratch.subj, reply, hdr, data)
	if c.cfg.FlowControl && !c.flowControlAfter(len(hdr)+len(data)) {
		return false
	}
	return true
}

// waitInterest holds delivery until the deliver subject has a
// subscriber: clients may create the consumer before subscribing (the
// JavaScript client does), and nats-server does not deliver into the
// void either. Without interest for interestLimit the consumer removes
// itself; waitInterest then reports false.
func (c *Consumer) waitInterest() bool {
	if c.bus.HasInterest(c.cfg.DeliverSubject) {
		return true
	}
	deadline := time.Now().Add(c.interestLimit())
	wait := time.Millisecond
	for !c.bus.HasInterest(c.cfg.DeliverSubject) {
		if time.Now().After(deadline) {
			c.gone()
			return false
		}
		select {
		case <-c.quit:
			return false
		case <-time.After(wait):
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
	return true
}

// interestLimit is how long the deliver subject may lack a subscriber
// before the consumer removes itself: the inactive threshold, but at
// most snapWait (DefaultSnapshotInterestWait) while the snapshot of a
// watch is held.
//
// The snapshot is exact as of creation (the end-of-initial-data marker
// means every key that existed then was delivered), so it has to be
// taken at creation and held until delivered: taking it only once a
// subscriber appears would describe a later moment than the create
// response's num_pending, which nats.go counts to place the marker. What
// can be bounded is how long it is held for nobody. Both clients
// subscribe within a round trip of the create (nats.go before it, the
// JavaScript client right after the response), and a reconnecting
// client within seconds; an inactive threshold of an hour (nats.go's
// ordered consumers ask for 5 minutes) is meant for a consumer whose
// client comes back, not for initial data nobody asked for. So a
// watcher without a subscriber gives its snapshot, and its share of the
// store's snapshot budget, back after snapWait; a client that does come
// back sees the consumer gone, as after its inactive threshold, and an
// ordered consumer recreates it.
func (c *Consumer) interestLimit() time.Duration {
	if c.holding && c.snapWait > 0 {
		return min(c.cfg.InactiveThreshold, c.snapWait)
	}
	return c.cfg.InactiveThreshold
}

// appendHeader appends to dst the header block hdr (nil for none) with
// one more "key: value" line.
func appendHeader(dst, hdr []byte, key, value string) []byte {
	if len(hdr) < 4 {
		dst = append(dst, "NATS/1.0\r\n"...)
	} else {
		dst = append(dst, hdr[:len(hdr)-2]...) // without the closing CRLF
	}
	dst = append(dst, key...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n\r\n"...)
}
