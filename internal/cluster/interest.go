package cluster

import (
	"math/rand/v2"
	"slices"
	"sync"
)

// localInterest counts this node's subscriptions per account, subject
// and queue, so that peers hear only of the first and the last.
// Lock order: localInterest.mu → Cluster.mu → route.mu.
type localInterest struct {
	mu    sync.Mutex
	count map[string]map[rsub]int // account → interest → subscriptions
}

func (li *localInterest) init() { li.count = make(map[string]map[rsub]int) }

// appendAllLocked encodes an RS+ for every interest.
func (li *localInterest) appendAllLocked(out []byte) []byte {
	for acc, m := range li.count {
		for k, n := range m {
			if n <= 0 {
				continue
			}
			out = appendSub(out, true, acc, k.subject, k.queue)
		}
	}
	return out
}

// LocalInterest implements server.ClusterHook.
func (c *Cluster) LocalInterest(acc, subj, queue string, delta int) {
	li := &c.interest
	li.mu.Lock()
	defer li.mu.Unlock()
	m := li.count[acc]
	if m == nil {
		m = make(map[rsub]int)
		li.count[acc] = m
	}
	k := rsub{subj, queue}
	// A removal may be reported before its addition (the server
	// reports after changing its index, from the goroutines that
	// change it), so a count may dip below zero for a moment; interest
	// exists while it is positive.
	before := m[k]
	after := before + delta
	if after == 0 {
		delete(m, k)
	} else {
		m[k] = after
	}
	if (before > 0) == (after > 0) {
		return
	}
	line := appendSub(nil, after > 0, acc, subj, queue)
	for _, r := range *c.routes.Load() {
		r.send(line)
	}
}

// HasPeers implements server.ClusterHook.
func (c *Cluster) HasPeers() bool { return len(*c.routes.Load()) > 0 }

// RemoteInterest implements server.ClusterHook.
func (c *Cluster) RemoteInterest(acc string, subj []byte) bool {
	for _, r := range *c.routes.Load() {
		if m := r.match(acc, subj); m != nil && !m.Empty() {
			return true
		}
	}
	return false
}

// Forward implements server.ClusterHook: it sends the message once to
// each peer with matching plain interest or a queue group of its own
// choice (interest in routeSubj; the peer shows it as subj). A queue
// group with a local member stays local; one with members on several
// peers goes to one of them, chosen at random. clientsOnly is passed
// on in the message's flags.
func (c *Cluster) Forward(acc string, routeSubj, subj, reply, header, payload []byte, localGroups []string, clientsOnly bool) bool {
	rs := *c.routes.Load()
	if len(rs) == 0 {
		return false
	}
	type want struct {
		r      *route
		plain  bool
		queues []string
	}
	var buf [8]want // on the stack for clusters of up to 9 nodes
	wants := buf[:0]
	var groupRoutes map[string][]int // queue → indexes in wants
	for _, r := range rs {
		m := r.match(acc, routeSubj)
		if m == nil || m.Empty() {
			continue
		}
		w := want{r: r, plain: len(m.Plain) > 0}
		for _, g := range m.Groups {
			if len(g) == 0 || slices.Contains(localGroups, g[0].queue) {
				continue
			}
			if groupRoutes == nil {
				groupRoutes = make(map[string][]int)
			}
			groupRoutes[g[0].queue] = append(groupRoutes[g[0].queue], len(wants))
		}
		wants = append(wants, w)
	}
	for q, idx := range groupRoutes {
		i := idx[rand.IntN(len(idx))]
		wants[i].queues = append(wants[i].queues, q)
	}
	sent := false
	for _, w := range wants {
		if !w.plain && len(w.queues) == 0 {
			continue
		}
		w.r.mu.Lock()
		if !w.r.mu.closed {
			q := &w.r.mu.out
			q.setTail(appendMsg(q.tail(msgSize(acc, routeSubj, subj, reply, w.queues, header, payload)), acc, routeSubj, subj, reply, w.plain, clientsOnly, w.queues, header, payload))
			w.r.kickLocked()
			sent = true
		}
		w.r.mu.Unlock()
	}
	return sent
}
