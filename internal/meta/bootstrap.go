package meta

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/cairn-db/cairn/internal/repl"
)

// Timing of the Raft node, in ticks: an idle group costs one heartbeat
// round every 300 ms (a node idle in a 5-node cluster spent 2.6 times
// nats-server's CPU with one every tick), and a leader lost is replaced
// within 2–4 s.
const (
	heartbeatTicks = 3
	electionTicks  = 20
)

// Timing of the control goroutine, in ticks.
const (
	helloTicksForming = 3                     // hellos before the node has a group
	helloTicksMember  = 50                    // hellos once it has one (joiners are answered at once)
	stableTicks       = 15                    // a view must hold this long before bootstrap
	freshTicks        = 3 * helloTicksForming // a peer's hello counts this long
	joinRetryTicks    = 20                    // a leader proposes one joiner at most this often
	rejoinLogTicks    = 600                   // a member rejoining with no log is logged at most this often
	conflictLogTicks  = 600
)

// hello is what nodes tell each other (frame KindHello; the frame's
// Cluster is the sender's group, 0 when it has none).
type hello struct {
	Name string `json:"name"`
	// View: the sender's sorted self + connected peers (without group).
	View []string `json:"view,omitempty"`
	// Members and Leader: the sender's group as it applied it.
	Members []string `json:"members,omitempty"`
	Leader  string   `json:"leader,omitempty"`
}

// joinRequest asks the leader of the frame's cluster to add Name.
type joinRequest struct {
	Name string `json:"name"`
}

type inbound struct {
	from    string
	kind    repl.Kind
	cluster uint64
	payload []byte
}

type heard struct {
	hello   hello
	cluster uint64
	at      time.Time
}

// ctlState belongs to the control goroutine.
type ctlState struct {
	ticks     uint64
	hellos    map[string]heard  // by sender
	view      []string          // sorted self + peers, before a group
	viewSince time.Time         // when view last changed
	joins     map[string]uint64 // joiner → tick of its last proposal
	conflicts map[string]uint64 // "peer/cluster" → tick last logged
	refusals  map[string]uint64 // bootstrap refusals → tick last logged
}

func (g *Group) initCtl() {
	g.hellos = map[string]heard{}
	g.joins = map[string]uint64{}
	g.conflicts = map[string]uint64{}
	g.refusals = map[string]uint64{}
}

// control runs hellos, bootstrap and joins until Close.
func (g *Group) control() {
	defer g.wg.Done()
	ticker := time.NewTicker(g.opts.TickInterval)
	defer ticker.Stop()
	g.sendHellos()
	for {
		select {
		case <-g.stop:
			return
		case in := <-g.ctl:
			g.handle(in)
		case <-g.peers:
			g.routes.Lock()
			g.refreshRoutesLocked()
			g.routes.Unlock()
			g.forgetDisconnected()
			g.sendHellos()
		case <-ticker.C:
			g.ticks++
			g.checkCaughtUp()
			every := uint64(helloTicksMember)
			if g.cluster.Load() == 0 {
				every = helloTicksForming
			}
			if g.ticks%every == 0 {
				g.sendHellos()
				g.askToJoin()
			}
			if g.cluster.Load() == 0 {
				g.maybeBootstrap(time.Now())
			}
		}
	}
}

// forgetDisconnected drops what peers no longer connected said: a node
// that comes back may have lost its group (a wiped directory).
func (g *Group) forgetDisconnected() {
	connected := g.opts.Transport.Peers()
	for p := range g.hellos {
		if !slices.Contains(connected, p) {
			delete(g.hellos, p)
		}
	}
}

func (g *Group) myHello() hello {
	h := hello{Name: g.opts.Name}
	if g.cluster.Load() == 0 {
		h.View = g.currentView()
		return h
	}
	h.Members = g.Members()
	h.Leader = g.Leader()
	return h
}

func (g *Group) sendHello(to string, h hello) {
	payload, _ := json.Marshal(h)
	g.opts.Transport.Send(to, repl.AppendFrame(nil, repl.Frame{
		Kind: repl.KindHello, Cluster: g.cluster.Load(), Group: repl.MetaGroup, Payload: payload,
	}))
}

func (g *Group) sendHellos() {
	h := g.myHello()
	for _, p := range g.opts.Transport.Peers() {
		g.sendHello(p, h)
	}
}

func (g *Group) currentView() []string {
	v := append(g.opts.Transport.Peers(), g.opts.Name)
	slices.Sort(v)
	return slices.Compact(v)
}

func (g *Group) handle(in inbound) {
	switch in.kind {
	case repl.KindHello:
		var h hello
		if json.Unmarshal(in.payload, &h) != nil || h.Name != in.from {
			return
		}
		g.hellos[in.from] = heard{hello: h, cluster: in.cluster, at: time.Now()}
		mine := g.cluster.Load()
		if mine != 0 && in.cluster != 0 && in.cluster != mine {
			g.logConflict(in.from, in.cluster, h)
		}
		if mine != 0 && in.cluster == 0 {
			g.sendHello(in.from, g.myHello()) // tell a forming node at once
		}
	case repl.KindJoin:
		var j joinRequest
		if json.Unmarshal(in.payload, &j) != nil || j.Name != in.from {
			return
		}
		g.handleJoin(j.Name, in.cluster)
	}
}

func (g *Group) logConflict(peer string, cluster uint64, h hello) {
	key := fmt.Sprintf("%s/%x", peer, cluster)
	if last, ok := g.conflicts[key]; ok && g.ticks-last < conflictLogTicks {
		return
	}
	g.conflicts[key] = g.ticks
	g.opts.Errorf("meta: peer %s belongs to another metadata group (cluster %016x, members %s); "+
		"this node %s is in cluster %016x (members %s); the groups are not merged: "+
		"wipe the data of one side's nodes and restart them to join the other",
		peer, cluster, strings.Join(h.Members, ","), g.opts.Name, g.cluster.Load(), strings.Join(g.Members(), ","))
}

// maybeBootstrap (no group yet) joins a group a connected peer has, or
// bootstraps a new one when the rule in doc.go allows.
func (g *Group) maybeBootstrap(now time.Time) {
	view := g.currentView()
	if !slices.Equal(view, g.view) {
		g.view, g.viewSince = view, now
	}
	fresh := freshTicks * g.opts.TickInterval
	clusters := map[uint64]string{}
	for _, p := range view {
		if h, ok := g.hellos[p]; ok && p != g.opts.Name && h.cluster != 0 && now.Sub(h.at) <= fresh {
			clusters[h.cluster] = p
		}
	}
	if len(clusters) > 1 {
		g.refuse("peers of several metadata groups are connected (%v); joining none", clusters)
		return
	}
	for cluster, peer := range clusters {
		g.opts.Logf("meta: %s joins metadata group %016x (seen at %s)", g.opts.Name, cluster, peer)
		if err := g.startJoiner(); err != nil {
			g.opts.Errorf("meta: starting the metadata group: %v", err)
			return
		}
		if err := g.startNode(cluster, nil); err != nil {
			g.opts.Errorf("meta: starting the metadata group: %v", err)
		}
		g.askToJoin()
		return
	}
	if g.opts.SeedsReady != nil && !g.opts.SeedsReady() {
		return
	}
	if now.Sub(g.viewSince) < stableTicks*g.opts.TickInterval {
		return
	}
	for _, p := range view {
		if p == g.opts.Name {
			continue
		}
		// The peer's latest hello must be recent, heard since the view
		// settled, from a node without a group, and give the same view.
		h, ok := g.hellos[p]
		recent := now.Sub(h.at) <= fresh
		if !ok || !recent || h.cluster != 0 || h.at.Before(g.viewSince) || !slices.Equal(h.hello.View, view) {
			return
		}
	}
	g.bootstrap(view)
}

func (g *Group) refuse(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if last, ok := g.refusals[msg]; ok && g.ticks-last < conflictLogTicks {
		return
	}
	g.refusals[msg] = g.ticks
	g.opts.Errorf("meta: %s", msg)
}

// bootstrap starts a new group whose members are view. Every member
// computes the same peers and the same cluster id from the same view.
func (g *Group) bootstrap(view []string) {
	peers := make([]raft.Peer, 0, len(view))
	seen := map[uint64]string{}
	for _, name := range view {
		id := raftID(name)
		if id == 0 || seen[id] != "" {
			g.refuse("server names %q and %q give the same Raft id; not bootstrapping", seen[id], name)
			return
		}
		seen[id] = name
		peers = append(peers, raft.Peer{ID: id, Context: []byte(name)})
	}
	cluster := raftID(strings.Join(view, "\x00"))
	if cluster == 0 {
		cluster = 1
	}
	g.opts.Logf("meta: %s bootstraps metadata group %016x with members %s", g.opts.Name, cluster, strings.Join(view, ","))
	if err := g.startNode(cluster, peers); err != nil {
		g.opts.Errorf("meta: starting the metadata group: %v", err)
		return
	}
	g.sendHellos()
}

// askToJoin (a node with a group it is not yet a member of) asks the
// connected nodes of its group to add it; only the leader acts.
func (g *Group) askToJoin() {
	cluster := g.cluster.Load()
	if cluster == 0 || slices.Contains(g.Members(), g.opts.Name) {
		return
	}
	payload, _ := json.Marshal(joinRequest{Name: g.opts.Name})
	for _, p := range g.opts.Transport.Peers() {
		if h, ok := g.hellos[p]; ok && h.cluster == cluster {
			// A frame each: the transport owns what it is given.
			g.opts.Transport.Send(p, repl.AppendFrame(nil, repl.Frame{Kind: repl.KindJoin, Cluster: cluster, Group: repl.MetaGroup, Payload: payload}))
		}
	}
}

// handleJoin: the leader proposes adding a joiner of its own cluster.
func (g *Group) handleJoin(name string, cluster uint64) {
	n := g.node.Load()
	if n == nil || cluster != g.cluster.Load() || n.Leader() != g.id {
		return
	}
	id := raftID(name)
	if cur, ok := g.fsm.memberName(id); ok {
		if cur != name {
			g.refuse("server name %q gives the Raft id of member %q; not adding it", name, cur)
			return
		}
		if last, ok := g.joins[name]; !ok || g.ticks-last >= rejoinLogTicks {
			g.joins[name] = g.ticks
			g.opts.Errorf("meta: member %s asks to join again: it lost its metadata log (a wiped or memory-only store directory); "+
				"it rejoins under its old id and does not vote until it has caught up with the leader", name)
			g.handOver(n, name)
		}
		return
	}
	if id == 0 {
		g.refuse("server name %q gives Raft id 0; not adding it", name)
		return
	}
	if last, ok := g.joins[name]; ok && g.ticks-last < joinRetryTicks {
		return
	}
	g.joins[name] = g.ticks
	g.opts.Logf("meta: adding %s to metadata group %016x", name, cluster)
	ctx, cancel := context.WithTimeout(context.Background(), 5*g.opts.TickInterval)
	defer cancel()
	cc := &raftpb.ConfChange{Type: raftpb.ConfChangeAddNode.Enum(), NodeId: &id, Context: []byte(name)}
	if err := n.ProposeConfChange(ctx, cc); err != nil {
		g.opts.Errorf("meta: proposing to add %s: %v", name, err)
	}
}

// handOver passes the leadership to another connected member than
// joiner: this leader believes joiner holds the entries it acknowledged
// before it lost its log and would never send them again (Raft does not
// reset a follower's progress before an election), so joiner could not
// catch up while this node leads.
func (g *Group) handOver(n *repl.Node, joiner string) {
	up := map[string]bool{}
	for _, p := range g.opts.Transport.Peers() {
		up[p] = true
	}
	for _, m := range g.fsm.memberNames() {
		if m != joiner && m != g.opts.Name && up[m] {
			g.opts.Logf("meta: %s hands the metadata group's leadership to %s so that %s can catch up", g.opts.Name, m, joiner)
			n.TransferLeadership(raftID(m))
			return
		}
	}
	g.opts.Errorf("meta: no member but %s to hand the leadership to: %s cannot catch up until another leader is elected", g.opts.Name, joiner)
}
