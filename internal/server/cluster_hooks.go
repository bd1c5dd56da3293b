package server

import (
	"math/rand/v2"
	"sync"
	"time"
)

// Hooks for internal/cluster. A server without a cluster never sets a
// hook: every account's cluster pointer stays nil, and the publish path
// pays one nil check (route.go). With a cluster, the server reports
// each cluster-visible subscription added or removed (a client's, or an
// in-process one made with Subscribe; not one made with SubscribeLocal),
// hands every locally published message to the cluster after local
// delivery, and accepts messages arriving from routes: a routed message
// (DeliverFromRoute) for the cluster-visible subscriptions, a forwarded
// one (DeliverForwarded) for the node-local in-process ones.

// ClusterHook is implemented by internal/cluster. Its methods are called
// from any goroutine with no server lock held, except LocalInterest for
// an in-process subscription, which is called with the account's
// in-process subscription lock held (it must not call back into the
// server).
type ClusterHook interface {
	// LocalInterest reports that a cluster-visible local subscription
	// (client or in-process) on subj in queue group queue ("" for none)
	// was added (delta +1) or removed (delta -1) in the account named
	// acc.
	LocalInterest(acc, subj, queue string, delta int)
	// Forward offers a message published on this node in account acc
	// to the peers that have interest in routeSubj; they present it to
	// their subscribers as published on subj (the same subject but for
	// a JetStream consumer's deliveries, PublishAs). localGroups are the
	// queue groups that matched locally (they are not offered to
	// peers). With clientsOnly the peers give it to client
	// subscriptions only (the publisher may not be answered on reply
	// by an in-process service: the reply rule, reply_rule.go). It
	// reports whether any peer took the message; the slices are only
	// valid during the call.
	Forward(acc string, routeSubj, subj, reply, header, payload []byte, localGroups []string, clientsOnly bool) bool
	// HasPeers reports whether any route is up; without one a publish
	// costs the cluster nothing more.
	HasPeers() bool
	// RemoteInterest reports whether a peer announced interest matching
	// subj in account acc. subj is only valid during the call.
	RemoteInterest(acc string, subj []byte) bool
	// WaitDrained waits, until max has passed at the latest, for every
	// route whose peer has interest in subj (account acc) to hold limit
	// bytes or less of unsent output, and reports whether a peer still
	// has interest in subj. subj is only valid during the call.
	WaitDrained(acc string, subj []byte, limit int, max time.Duration) bool
	// Stall holds a publishing client back (on its own goroutine) while
	// a route with interest in subj (account acc) is backed up; it
	// returns at once when none is. subj is only valid during the call.
	Stall(acc string, subj []byte)
}

// clusterHooks holds each server's hook, read when an account is
// created (newAccount); the publish path reads the account's copy.
var clusterHooks sync.Map // *Server → *clusterHookBox

type clusterHookBox struct{ h ClusterHook }

func clusterHookOf(s *Server) *clusterHookBox {
	if v, ok := clusterHooks.Load(s); ok {
		return v.(*clusterHookBox)
	}
	return nil
}

// SetClusterHook installs h (nil removes it) and reports every existing
// cluster-visible subscription to it: client subscriptions and the
// in-process ones made with Subscribe. A client subscription made while
// it is being installed may be reported twice (its interest then
// outlives it on the peers, which costs only forwards they drop); an
// in-process one is reported exactly once.
func (s *Server) SetClusterHook(h ClusterHook) {
	var box *clusterHookBox
	if h != nil {
		box = &clusterHookBox{h: h}
		clusterHooks.Store(s, box)
	} else {
		clusterHooks.Delete(s)
	}
	for _, a := range s.allAccounts() {
		a.inproc.Lock()
		a.cluster.Store(box)
		if h != nil {
			for sub := range a.inproc.subs {
				h.LocalInterest(a.name, sub.subject, sub.queue, 1)
			}
		}
		a.inproc.Unlock()
	}
	if h == nil {
		return
	}
	s.mu.Lock()
	clients := make([]*client, 0, len(s.mu.clients))
	for _, c := range s.mu.clients {
		clients = append(clients, c)
	}
	s.mu.Unlock()
	for _, c := range clients {
		c.mu.Lock()
		subs := make([]*subscription, 0, len(c.mu.subs))
		for _, sub := range c.mu.subs {
			subs = append(subs, sub)
		}
		c.mu.Unlock()
		acc := c.account()
		for _, sub := range subs {
			h.LocalInterest(acc.name, sub.subject, sub.queue, 1)
		}
	}
}

// insertSub adds sub to the account's index and, unless it is
// node-local, reports it to the cluster.
func (a *Account) insertSub(subj, queue string, sub *subscription) error {
	switch {
	case sub.local:
		return a.subs.Insert(subj, queue, sub)
	case sub.client == nil:
		// Under inproc's lock, so SetClusterHook reports it exactly once.
		a.inproc.Lock()
		defer a.inproc.Unlock()
		if err := a.subs.Insert(subj, queue, sub); err != nil {
			return err
		}
		if a.inproc.subs == nil {
			a.inproc.subs = make(map[*subscription]struct{})
		}
		a.inproc.subs[sub] = struct{}{}
	default:
		if err := a.subs.Insert(subj, queue, sub); err != nil {
			return err
		}
	}
	if box := a.cluster.Load(); box != nil {
		box.h.LocalInterest(a.name, subj, queue, 1)
	}
	return nil
}

// removeSub removes sub from the account's index and, if it was there
// and is not node-local, reports it to the cluster.
func (a *Account) removeSub(subj, queue string, sub *subscription) bool {
	if sub.client == nil && !sub.local {
		a.inproc.Lock()
		defer a.inproc.Unlock()
		delete(a.inproc.subs, sub)
	}
	ok := a.subs.Remove(subj, queue, sub)
	if ok && !sub.local {
		if box := a.cluster.Load(); box != nil {
			box.h.LocalInterest(a.name, subj, queue, -1)
		}
	}
	return ok
}

// forwardToCluster is route's cluster step, taken only with a hook.
// from is the publishing client (nil in-process) and rc the reply
// rule's decision for the message so far.
func (s *Server) forwardToCluster(box *clusterHookBox, acc *Account, from *client, rc *replyCheck, groups [][]*subscription, routeSubj, subj, reply, header, payload []byte) bool {
	if !box.h.HasPeers() || hasEmptyToken(routeSubj) || hasEmptyToken(subj) {
		return false
	}
	var local []string
	for _, g := range groups {
		if len(g) > 0 {
			local = append(local, g[0].queue)
		}
	}
	if !box.h.Forward(acc.name, routeSubj, subj, reply, header, payload, local, clientsOnly(from, rc, reply)) {
		return false
	}
	if from != nil {
		// A client's publish waits while a route it went to is backed
		// up; an in-process one (a stream's acknowledgement) never does.
		box.h.Stall(acc.name, routeSubj)
	}
	return true
}

// clientsOnly reports whether a message is for the peers' client
// subscriptions only: its publisher has permissions and may not be
// answered on reply by an in-process service (the reply rule,
// reply_rule.go). The rule is decided here, quietly, when no local
// in-process subscription decided it: whether a peer has one is not
// known, so the publisher is not told of a violation.
func clientsOnly(from *client, rc *replyCheck, reply []byte) bool {
	switch {
	case *rc == replyRefused:
		return true
	case *rc == replyAllowed || from == nil || len(reply) == 0 || from.perm.p.Load() == nil:
		return false
	default:
		return !from.mayBeAnsweredOn(reply)
	}
}

// DeliverFromRoute delivers a message that arrived from a peer (a
// routed message, RMSG) to this node's cluster-visible subscriptions,
// never back to the cluster and never to node-local in-process ones
// (SubscribeLocal): to every plain subscription when plain is set, and
// to one member of each of the named queue groups. Subscriptions are
// matched on routeSubj and shown subj (they differ for a JetStream
// consumer's deliveries, PublishAs).
//
// Client subscriptions get the message at once. The handlers of the
// in-process subscriptions it is for are appended to handlers and
// returned: the caller runs them with RunRouted, off its reader
// goroutine. With clientsOnly (the publisher's node decided by the
// reply rule that no in-process service may answer it) no in-process
// subscription gets it, and a client with allow_responses gets no
// right to answer it. rf is the calling route reader's: the clients
// given the message are flushed by rf.Flush, which the reader calls
// once it has processed its read (nil: their writers are woken at
// once). The slices are only valid during the call.
func (s *Server) DeliverFromRoute(accName string, routeSubj, subj, reply, header, payload []byte, plain bool, queues []string, clientsOnly bool, handlers []Handler, rf *RouteFlush) []Handler {
	acc := s.Account(accName)
	if hasEmptyToken(routeSubj) {
		return handlers
	}
	var rc *replyCheck // nil: the reply is open to clients with allow_responses
	if clientsOnly {
		refused := replyRefused
		rc = &refused
	}
	r := acc.subs.MatchBytes(routeSubj)
	if plain {
		for _, sub := range r.Plain {
			switch {
			case sub.client != nil:
				s.deliver(nil, sub, subj, reply, header, payload, rc, rf)
			case !sub.local && !clientsOnly:
				handlers = append(handlers, sub.handler)
			}
		}
	}
	for _, q := range queues {
		for _, group := range r.Groups {
			if len(group) == 0 || group[0].queue != q {
				continue
			}
			start := rand.IntN(len(group))
			for i := range group {
				sub := group[(start+i)%len(group)]
				if sub.client != nil {
					if s.deliver(nil, sub, subj, reply, header, payload, rc, rf) {
						break
					}
				} else if !sub.local && !clientsOnly {
					handlers = append(handlers, sub.handler)
					break
				}
			}
		}
	}
	return handlers
}

// RunRouted calls each handler with a message that arrived from a peer
// (Msg.FromRoute set, no Requester). It runs on the caller's goroutine;
// the slices are not retained after it returns.
func RunRouted(handlers []Handler, subj, reply string, header, payload []byte) {
	for _, h := range handlers {
		h(&Msg{Subject: subj, Reply: reply, Header: header, Data: payload, FromRoute: true})
	}
}

// DeliverForwarded delivers a message a peer forwarded to this node
// alone (RFWD: a request for a service only this node runs) to the
// node-local in-process subscriptions (SubscribeLocal) matching subj:
// every plain one and one member of each queue group, with
// Msg.FromRoute set. Client and cluster-visible subscriptions do not
// get it. The handlers run on the caller's goroutine; it reports
// whether any did. The slices are only valid during the call.
func (s *Server) DeliverForwarded(accName string, subj, reply, header, payload []byte) bool {
	if hasEmptyToken(subj) {
		return false
	}
	r := s.Account(accName).subs.MatchBytes(subj)
	var hs []Handler
	for _, sub := range r.Plain {
		if sub.local {
			hs = append(hs, sub.handler)
		}
	}
	for _, group := range r.Groups {
		start := rand.IntN(len(group))
		for i := range group {
			if sub := group[(start+i)%len(group)]; sub.local {
				hs = append(hs, sub.handler)
				break
			}
		}
	}
	RunRouted(hs, string(subj), string(reply), header, payload)
	return len(hs) > 0
}
