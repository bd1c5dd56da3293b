package cluster

import (
	"bytes"
	"time"
)

// Sending to one named peer, and pacing to peers. The JetStream front
// forwards a request to the node that serves it (SendTo, an RFWD the
// peer gives to its node-local in-process subscriptions), and the Raft
// group exchanges its frames (SendRaft, RAFT, received by
// Options.OnRaft). Both only queue: a route's writer sends.

// PeerNames returns the server names of the connected peers, in no
// particular order.
func (c *Cluster) PeerNames() []string {
	rs := *c.routes.Load()
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.peer.Name)
	}
	return out
}

// routeTo returns the ready route to the peer with server name peer,
// nil for none.
func (c *Cluster) routeTo(peer string) *route {
	for _, r := range *c.routes.Load() {
		if r.peer.Name == peer {
			return r
		}
	}
	return nil
}

// SendTo queues a message for the peer named peer (its server name)
// alone, in account acc, which delivers it to its node-local
// in-process subscriptions matching subj (server.DeliverForwarded;
// Msg.FromRoute set), on the route's worker goroutine in the order
// sent. reply may be empty. It never blocks, and reports false when
// there is no route to peer, when the message would take the route's
// outbound buffer past MaxPending (the route is not cut), or when acc,
// subj or reply is empty where required or holds white space. The
// slices are not retained.
func (c *Cluster) SendTo(peer, acc string, subj, reply, hdr, data []byte) bool {
	if acc == "" || !token(subj) || (len(reply) > 0 && !token(reply)) || !token([]byte(acc)) {
		return false
	}
	r := c.routeTo(peer)
	if r == nil {
		return false
	}
	size := len(acc) + len(subj) + len(reply) + len(hdr) + len(data) + 48
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.closed || r.mu.out.size+size > c.opts.MaxPending {
		return false
	}
	q := &r.mu.out
	q.setTail(appendFwd(q.tail(msgSize(acc, nil, subj, reply, nil, hdr, data)), acc, subj, reply, hdr, data))
	r.kickLocked()
	return true
}

// token reports whether b is a non-empty protocol argument: no white
// space, no control line end.
func token(b []byte) bool {
	return len(b) > 0 && !bytes.ContainsAny(b, " \t\r\n")
}

// SendRaft queues one Raft frame for the peer named peer (its server
// name), which hands it to its Options.OnRaft. It never blocks: the
// frame is dropped, and false returned, when there is no route to peer
// or the frame would take the route's outbound buffer past MaxPending
// (Raft tolerates loss; the route is not cut). data is not retained.
func (c *Cluster) SendRaft(peer string, data []byte) bool {
	r := c.routeTo(peer)
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.closed || r.mu.out.size+len(data)+32 > c.opts.MaxPending {
		return false
	}
	q := &r.mu.out
	q.setTail(appendRaft(q.tail(msgSize("", nil, nil, nil, nil, nil, data)), data))
	r.kickLocked()
	return true
}

// Publishers that outrun a route are held back rather than have the
// route cut: once a route holds more than a quarter of MaxPending of
// unsent output, a client's publish forwarded to it waits (Stall) until
// the route is back under that, at most stallMax each time. A peer that
// reads slowly (a stream's leader under a flood of publishes forwarded
// by a follower) so slows the follower's publishing clients down to
// its own pace, through TCP, instead of losing the route and every Raft
// message on it; a peer that does not read at all still sees its route
// cut at MaxPending (the stalled publishes keep appending) or by its
// unanswered PINGs. In-process publishes (a stream's acknowledgements,
// Raft frames) never wait.

// stallMax bounds one publish's wait in Stall: short, so that a peer
// that stopped reading (cut only at MaxPending or by its PINGs) slows
// its publishers down rather than stops them.
const stallMax = 25 * time.Millisecond

// stallBytes is the unsent output past which a route stalls publishers.
func (c *Cluster) stallBytes() int { return c.opts.MaxPending / 4 }

// Stall implements server.ClusterHook: when a route with interest in
// subj (account acc) holds more than stallBytes of unsent output, it
// waits until that route is back under it, at most stallMax. Cheap
// when no route is backed up.
func (c *Cluster) Stall(acc string, subj []byte) {
	rs := *c.routes.Load()
	for _, r := range rs {
		if r.over.Load() {
			c.WaitDrained(acc, subj, c.stallBytes(), stallMax)
			return
		}
	}
}

// WaitDrained implements server.ClusterHook: it waits for each route
// whose peer has interest in subj to hold limit bytes or less of
// unsent output (queued or being written), each until max has passed
// since the call at the latest, and reports whether a peer still has
// interest.
func (c *Cluster) WaitDrained(acc string, subj []byte, limit int, max time.Duration) bool {
	deadline := time.Now().Add(max)
	listening := false
	for _, r := range *c.routes.Load() {
		if m := r.match(acc, subj); m == nil || m.Empty() {
			continue
		}
		if r.waitDrained(limit, deadline) {
			listening = true
		}
	}
	return listening
}

// waitDrained waits until the route holds limit bytes or less of
// unsent output, the deadline passes or the route closes; it reports
// whether the route is still open.
func (r *route) waitDrained(limit int, deadline time.Time) bool {
	for {
		r.mu.Lock()
		if r.mu.closed {
			r.mu.Unlock()
			return false
		}
		if r.mu.out.size+r.mu.inFlight <= limit {
			r.mu.Unlock()
			return true
		}
		if r.mu.drained == nil {
			r.mu.drained = make(chan struct{})
		}
		drained := r.mu.drained
		r.mu.Unlock()
		left := time.Until(deadline)
		if left <= 0 {
			return true
		}
		t := time.NewTimer(left)
		select {
		case <-drained:
		case <-r.done:
		case <-t.C:
		}
		t.Stop()
	}
}
