package server

import (
	"math/rand/v2"
	"sync"
)

// Hooks for internal/cluster. A server without a cluster never sets a
// hook: every account's cluster pointer stays nil, and the publish path
// pays one nil check (route.go). With a cluster, the server reports
// each local subscription added or removed, hands every locally
// published message to the cluster after local delivery, and accepts
// messages arriving from routes for local delivery only.

// ClusterHook is implemented by internal/cluster. Its methods are called
// from any goroutine with no server lock held.
type ClusterHook interface {
	// LocalInterest reports that a local subscription (client or
	// in-process) on subj in queue group queue ("" for none) was added
	// (delta +1) or removed (delta -1) in the account named acc.
	LocalInterest(acc, subj, queue string, delta int)
	// Forward offers a message published on this node in account acc
	// to the peers that have interest. localGroups are the queue groups
	// that matched locally (they are not offered to peers). It reports
	// whether any peer took the message; the slices are only valid
	// during the call.
	Forward(acc string, subj, reply, header, payload []byte, localGroups []string) bool
	// HasPeers reports whether any route is up; without one a publish
	// costs the cluster nothing more.
	HasPeers() bool
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
// client subscription to it. A client subscription made while it is
// being installed may be reported twice (its interest then outlives it
// on the peers, which costs only forwards they drop).
//
// Only client subscriptions are reported: in-process services (the
// JetStream API, stream ingestion) stay node-local until JetStream is
// clustered (issue 14, point 4), so a node's API answers its own
// clients only.
func (s *Server) SetClusterHook(h ClusterHook) {
	var box *clusterHookBox
	if h != nil {
		box = &clusterHookBox{h: h}
		clusterHooks.Store(s, box)
	} else {
		clusterHooks.Delete(s)
	}
	for _, a := range s.allAccounts() {
		a.cluster.Store(box)
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

// insertSub adds sub to the account's index and reports it to the
// cluster.
func (a *Account) insertSub(subj, queue string, sub *subscription) error {
	if err := a.subs.Insert(subj, queue, sub); err != nil {
		return err
	}
	if box := a.cluster.Load(); box != nil && sub.client != nil {
		box.h.LocalInterest(a.name, subj, queue, 1)
	}
	return nil
}

// removeSub removes sub from the account's index and, if it was there,
// reports it to the cluster.
func (a *Account) removeSub(subj, queue string, sub *subscription) bool {
	ok := a.subs.Remove(subj, queue, sub)
	if ok {
		if box := a.cluster.Load(); box != nil && sub.client != nil {
			box.h.LocalInterest(a.name, subj, queue, -1)
		}
	}
	return ok
}

// forwardToCluster is route's cluster step, taken only with a hook.
// PublishAs messages (routeSubj != subj) stay local for now.
func (s *Server) forwardToCluster(box *clusterHookBox, acc *Account, groups [][]*subscription, routeSubj, subj, reply, header, payload []byte) bool {
	if !box.h.HasPeers() || string(routeSubj) != string(subj) || hasEmptyToken(subj) {
		return false
	}
	var local []string
	for _, g := range groups {
		if len(g) > 0 {
			local = append(local, g[0].queue)
		}
	}
	return box.h.Forward(acc.name, subj, reply, header, payload, local)
}

// DeliverFromRoute delivers a message that arrived from a peer to local
// client subscriptions only (never back to the cluster, and not to
// in-process services, which are node-local as SetClusterHook says): to
// every plain subscription when plain is set, and to one member of each
// of the named queue groups. The slices are only valid during the call.
func (s *Server) DeliverFromRoute(accName string, subj, reply, header, payload []byte, plain bool, queues []string) {
	acc := s.Account(accName)
	if hasEmptyToken(subj) {
		return
	}
	r := acc.subs.MatchBytes(subj)
	if plain {
		for _, sub := range r.Plain {
			if sub.client != nil {
				s.deliver(nil, sub, subj, reply, header, payload, nil)
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
				if sub.client != nil && s.deliver(nil, sub, subj, reply, header, payload, nil) {
					break
				}
			}
		}
	}
}
