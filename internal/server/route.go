package server

import (
	"bytes"
	"math/rand/v2"
	"time"

	"github.com/cairn-db/cairn/internal/subject"
	"github.com/cairn-db/cairn/internal/wire"
)

// subscription is one interest: a client's SUB or an in-process handler.
type subscription struct {
	client  *client // nil for in-process subscriptions
	handler Handler
	// local marks a node-local in-process subscription (SubscribeLocal):
	// never reported to the cluster, never given routed messages.
	local   bool
	subject string
	queue   string
	sid     string

	// Auto-unsubscribe (UNSUB <sid> <max>), for client subscriptions
	// only; both guarded by client.mu.
	max       int64 // remove after this many deliveries; 0 = none
	delivered int64
}

// route delivers one published message to every matching subscription:
// each plain subscription and one member of each queue group. from is
// the publishing client, nil for in-process publishes; acc is the
// account the message is published in.
func (s *Server) route(acc *Account, from *client, subj, reply, header, payload []byte) {
	s.routeAs(acc, from, subj, subj, reply, header, payload)
}

// routeAs matches subscriptions on routeSubj but presents the message as
// published on subj: JetStream delivers stream messages to a consumer's
// deliver subject under their original subject.
func (s *Server) routeAs(acc *Account, from *client, routeSubj, subj, reply, header, payload []byte) {
	r := emptyResult
	if !hasEmptyToken(routeSubj) {
		r = acc.subs.MatchBytes(routeSubj)
	}
	delivered := false
	var rc replyCheck // the reply rule for in-process subscriptions (reply_rule.go)
	for _, sub := range r.Plain {
		if sub.handler != nil && !rc.allows(from, subj, reply) {
			continue
		}
		if s.deliver(from, sub, subj, reply, header, payload, &rc, nil) {
			delivered = true
		}
	}
	for _, group := range r.Groups {
		// Start at a random member; fall through to the next when one
		// is gone or refuses (echo off).
		start := rand.IntN(len(group))
		for i := range group {
			sub := group[(start+i)%len(group)]
			if sub.handler != nil && !rc.allows(from, subj, reply) {
				continue
			}
			if s.deliver(from, sub, subj, reply, header, payload, &rc, nil) {
				delivered = true
				break
			}
		}
	}
	// With a cluster, offer the message to peers with interest
	// (cluster_hooks.go); nil without one.
	if box := acc.cluster.Load(); box != nil && s.forwardToCluster(box, acc, from, &rc, r.Groups, routeSubj, subj, reply, header, payload) {
		delivered = true
	}
	if !delivered && len(reply) > 0 && from != nil && r.Empty() && from.opts.Headers && from.opts.NoResponders {
		s.noResponders(acc, from, routeSubj, reply)
	}
}

// emptyResult matches nothing; it is never modified.
var emptyResult = &subject.Result[*subscription]{}

// hasEmptyToken reports whether subj is empty or has an empty token
// ("foo..bar", ".foo", "foo."). nats-server matches such a subject with
// nothing, not even ">"; the index would match it with wildcards.
func hasEmptyToken(subj []byte) bool {
	n := len(subj)
	return n == 0 || subj[0] == '.' || subj[n-1] == '.' || bytes.Contains(subj, doubleDot)
}

var doubleDot = []byte("..")

// noResponders tells a requester that nobody listens on the subject, with
// a status-only message to its own subscription on the reply subject,
// and to no one else: as nats-server (subForReply), it is not routed.
// Routed, it would let a client publish a 503 to any subject regardless
// of its permissions, into other clients' subscriptions and into
// streams (a KV bucket would store it as an empty value).
func (s *Server) noResponders(acc *Account, from *client, subj, reply []byte) {
	if hasEmptyToken(reply) {
		return
	}
	// The requester's subscription on the reply subject itself comes
	// first, as in nats-server's match order (a literal before a
	// wildcard at the last token): nats.go waits on a literal inbox
	// under its request wildcard and drops a status on the wildcard.
	var to *subscription
	for _, sub := range acc.subs.MatchBytes(reply).Plain {
		if sub.client == from && (to == nil || sub.subject == string(reply)) {
			to = sub
		}
	}
	if to != nil {
		hdr := wire.NewStatusHeader(503, "").Add("Nats-Subject", string(subj)).Bytes()
		s.deliver(nil, to, reply, nil, hdr, nil, nil, nil)
	}
}

// deliver hands the message to one subscription and reports whether it
// took it. rc is the message's reply rule decision (nil when from is
// nil). rf is the route reader delivering a routed message (nil for
// any other): the client is flushed when the reader has processed its
// read (RouteFlush).
func (s *Server) deliver(from *client, sub *subscription, subj, reply, header, payload []byte, rc *replyCheck, rf *RouteFlush) bool {
	if sub.handler != nil {
		sub.handler(&Msg{Subject: string(subj), Reply: string(reply), Header: header, Data: payload, from: from})
		return true
	}
	c := sub.client
	if c == from && !c.opts.Echo {
		return false
	}
	// With allow_responses the reply subject lets c publish there on the
	// requester's behalf, as an in-process service answering would: it
	// is opened only where the requester may be answered (the reply
	// rule, reply_rule.go). Decided before c.mu is taken, as it takes
	// from's.
	openReply := true
	if len(reply) > 0 && rc != nil && c.perm.p.Load().Responses() != nil {
		openReply = rc.allows(from, subj, reply)
	}
	c.mu.Lock()
	if c.mu.closed || !c.delivers(sub, subj) {
		// A message a subscribe deny entry denies is dropped, and does
		// not count towards the subscription's max (perms.go).
		c.mu.Unlock()
		return false
	}
	// Counted under c.mu, as Unsub sets the max: exactly max messages
	// are delivered, and the delivery that reaches max removes the
	// subscription (below, once c.mu is released).
	sub.delivered++
	last := false
	if sub.max > 0 {
		if sub.delivered > sub.max {
			c.mu.Unlock()
			return false
		}
		last = sub.delivered == sub.max
	}
	if c.perm.p.Load() != nil && openReply {
		c.trackReply(reply) // allow_responses (perms.go)
	}
	if !c.opts.Headers {
		// A client that did not ask for headers gets the payload alone.
		header = nil
	}
	if c.mu.out == nil {
		// Its large buffer went back to the pool when it drained.
		c.mu.out = getOutBuf()
	}
	c.mu.out = wire.AppendMsg(c.mu.out, subj, sub.sid, reply, header, payload)
	c.mu.outMsgs++
	c.mu.outBytes += int64(len(header) + len(payload))
	pending := len(c.mu.out)
	var stall chan struct{}
	if pending > s.opts.MaxPending*3/4 && from != nil && from != c {
		// Back-pressure: the publisher waits briefly for this consumer's
		// writer, so a burst does not cut off a consumer that is merely
		// behind. One that stays behind still reaches MaxPending.
		if c.mu.stall == nil {
			c.mu.stall = make(chan struct{})
		}
		stall = c.mu.stall
	}
	c.mu.Unlock()
	if last {
		c.removeSub(sub)
	}
	slow := pending > s.opts.MaxPending
	if c.log.Tracing() {
		c.log.Tracef("%s - ->> [MSG %s %s %s %d]", c, subj, sub.sid, reply, len(header)+len(payload))
	}
	if slow {
		c.slowConsumer("MaxPending of " + itoa(uint64(s.opts.MaxPending)) + " bytes exceeded")
		return true
	}
	switch {
	case stall != nil:
		c.kick()
		t := time.NewTimer(stallTimeout)
		select {
		case <-stall:
		case <-t.C:
		}
		t.Stop()
	case from != nil && from != c:
		// Flushed by the publisher's reader once it has processed its
		// input: one write for many messages.
		from.pcd[c] = struct{}{}
	case rf != nil:
		// Likewise by the route's reader (route_flush.go).
		rf.clients[c] = struct{}{}
	case c.parsing.Load():
		// c's own reader flushes c when it is done (replies to c's
		// requests from in-process handlers land here).
	default:
		c.kick()
	}
	return true
}

// stallTimeout bounds how long a publisher waits for one slow consumer.
const stallTimeout = 10 * time.Millisecond
