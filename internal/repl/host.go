package repl

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Transport carries opaque frames to other nodes by server name, as
// internal/meta's Transport does.
type Transport interface {
	// Send hands one frame to the route to the named server. It must
	// not block (drop instead: Raft retries) and returns false when the
	// frame was dropped. The Host does not reuse frame after the call.
	Send(to string, frame []byte) bool
}

// HostConfig configures a Host.
type HostConfig struct {
	// DB holds every group's log. The Host owns it: Close closes it.
	DB        *DB
	Transport Transport
	// Cluster returns the cluster id stamped on outgoing frames; an
	// incoming Raft frame of another cluster is dropped. Nil: 0.
	Cluster func() uint64
	// Tick is every group's Raft tick (default 100 ms), driven by the
	// Host's one ticker.
	Tick time.Duration
	Logf func(format string, args ...any)
}

// GroupConfig configures one group started by Host.StartGroup.
type GroupConfig struct {
	// ID is the group id, on every frame; not MetaGroup (0), which
	// belongs to internal/meta.
	ID uint64
	// Self is this node's Raft id in the group, never 0.
	Self uint64
	// Peers maps the Raft ids of the group's other members to their
	// server names (self, if present, is ignored). SetPeers replaces it.
	Peers map[uint64]string
	FSM   FSM
	// Bootstrap, on an empty log, starts the group with these members
	// (see Config.Bootstrap).
	Bootstrap                     []raft.Peer
	ElectionTicks, HeartbeatTicks int                          // see Config
	SnapshotEvery                 uint64                       // see Config
	OnApplied                     func()                       // see Config
	OnLeader                      func(lead uint64, self bool) // see Config
	OnLostFollower                func(id uint64)              // see Config
	Initial                       []uint64                     // see Config
	InitialData                   []byte                       // see Config
	LeaderOnly                    bool                         // see Config
	MaxAsyncProposals             int                          // see Config
	// OnFrame receives the group's frames of kinds other than
	// KindRaft (payload only, not retained after the call). It runs on
	// the route's reader: it must not block.
	OnFrame func(from string, kind Kind, payload []byte)
}

// Host errors.
var (
	ErrNoGroup     = errors.New("repl: no such group")
	ErrGroupExists = errors.New("repl: group already running")
)

// HostStats counts incoming frames the Host dropped.
type HostStats struct {
	UnknownGroup uint64 // Raft frames of a group not running here
	OtherCluster uint64 // Raft frames stamped with another cluster id
	Malformed    uint64 // frames that do not parse, or not of KindRaft
}

// Host runs many Raft groups of one node (one per replicated stream,
// issue 15) over one DB and one Transport: it routes incoming frames to
// groups by the frame's group id, sends each group's messages to the
// server names of that group's peers, and ticks every group from one
// goroutine.
//
// All methods are safe for concurrent use. Lock order: Host.mu, then
// anything a Node takes; a Node's goroutine never takes Host.mu (its
// Send reads the group's peers through an atomic pointer), so Stop is
// always called with Host.mu released.
type Host struct {
	cfg HostConfig

	mu struct {
		sync.RWMutex
		groups map[uint64]*hostGroup // node nil: starting or being removed
		closed bool
	}
	busy sync.WaitGroup // StartGroup/RemoveGroup calls using the DB outside mu

	unknown, otherCluster, malformed atomic.Uint64

	stop, done chan struct{}
}

type hostGroup struct {
	id      uint64
	self    uint64
	onFrame func(from string, kind Kind, payload []byte)
	node    *Node // nil while starting or being removed (under Host.mu)
	peers   atomic.Pointer[map[uint64]string]
}

// NewHost starts a Host with no groups and its tick goroutine.
func NewHost(cfg HostConfig) (*Host, error) {
	if cfg.DB == nil || cfg.Transport == nil {
		return nil, errors.New("repl: HostConfig needs a DB and a Transport")
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 100 * time.Millisecond
	}
	if cfg.Cluster == nil {
		cfg.Cluster = func() uint64 { return 0 }
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	h := &Host{cfg: cfg, stop: make(chan struct{}), done: make(chan struct{})}
	h.mu.groups = make(map[uint64]*hostGroup)
	go h.tickLoop()
	return h, nil
}

// tickLoop ticks every running group: one ticker for the whole Host,
// so an idle node's wakeups do not grow with its number of groups.
func (h *Host) tickLoop() {
	defer close(h.done)
	t := time.NewTicker(h.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			h.mu.RLock()
			for _, g := range h.mu.groups {
				if g.node != nil {
					g.node.Tick() // never blocks
				}
			}
			h.mu.RUnlock()
		case <-h.stop:
			return
		}
	}
}

// StartGroup loads group cfg.ID's log and starts its Node, ticked by
// the Host. It returns ErrGroupExists when the group runs (or is being
// started or removed), ErrClosed after Close, and StartNode's errors.
// The Node is the Host's: stop it with StopGroup, not Node.Stop.
func (h *Host) StartGroup(cfg GroupConfig) (*Node, error) {
	if cfg.ID == MetaGroup {
		return nil, errors.New("repl: group id 0 is the metadata group's")
	}
	g := &hostGroup{id: cfg.ID, self: cfg.Self, onFrame: cfg.OnFrame}
	g.peers.Store(copyPeers(cfg.Peers))
	if err := h.reserve(g); err != nil {
		return nil, err
	}
	defer h.busy.Done()
	n, err := StartNode(Config{
		ID: cfg.Self, Group: cfg.ID, Log: h.cfg.DB.Log(cfg.ID), FSM: cfg.FSM,
		Send: func(m *raftpb.Message) bool { return h.send(g, m) }, Bootstrap: cfg.Bootstrap,
		Tick: h.cfg.Tick, ExternalTick: true,
		ElectionTicks: cfg.ElectionTicks, HeartbeatTicks: cfg.HeartbeatTicks,
		SnapshotEvery: cfg.SnapshotEvery, OnApplied: cfg.OnApplied, OnLeader: cfg.OnLeader,
		OnLostFollower: cfg.OnLostFollower, Logf: h.cfg.Logf,
		Initial: cfg.Initial, InitialData: cfg.InitialData, LeaderOnly: cfg.LeaderOnly,
		MaxAsyncProposals: cfg.MaxAsyncProposals,
	})
	h.mu.Lock()
	if err != nil || h.mu.closed {
		delete(h.mu.groups, cfg.ID)
		h.mu.Unlock()
		if err != nil {
			return nil, err
		}
		n.Stop()
		return nil, ErrClosed
	}
	g.node = n
	h.mu.Unlock()
	return n, nil
}

// reserve enters g (without a node) in the map, so that no other
// StartGroup or RemoveGroup of the same id runs meanwhile; the caller
// must call h.busy.Done.
func (h *Host) reserve(g *hostGroup) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mu.closed {
		return ErrClosed
	}
	if _, ok := h.mu.groups[g.id]; ok {
		return fmt.Errorf("%w: %d", ErrGroupExists, g.id)
	}
	h.mu.groups[g.id] = g
	h.busy.Add(1)
	return nil
}

// StopGroup stops group id's Node and waits for it (its waiting
// proposers get ErrClosed); its log stays. ErrNoGroup when it is not
// running (or still being started).
func (h *Host) StopGroup(id uint64) error {
	h.mu.Lock()
	g := h.mu.groups[id]
	if g == nil || g.node == nil {
		h.mu.Unlock()
		return fmt.Errorf("%w: %d", ErrNoGroup, id)
	}
	delete(h.mu.groups, id)
	h.mu.Unlock()
	g.node.Stop()
	return nil
}

// RemoveGroup stops group id when it runs, then deletes its log from
// the DB (a group not running here has its log deleted all the same).
// ErrGroupExists when the group is being started or removed.
func (h *Host) RemoveGroup(id uint64) error {
	if id == MetaGroup {
		return errors.New("repl: group id 0 is the metadata group's")
	}
	h.mu.Lock()
	if h.mu.closed {
		h.mu.Unlock()
		return ErrClosed
	}
	g := h.mu.groups[id]
	if g != nil && g.node == nil {
		h.mu.Unlock()
		return fmt.Errorf("%w: %d", ErrGroupExists, id)
	}
	// A placeholder keeps StartGroup off the log while it is deleted.
	h.mu.groups[id] = &hostGroup{id: id}
	h.busy.Add(1)
	h.mu.Unlock()
	defer h.busy.Done()
	if g != nil {
		g.node.Stop()
	}
	err := h.cfg.DB.Log(id).Delete()
	h.mu.Lock()
	delete(h.mu.groups, id)
	h.mu.Unlock()
	return err
}

// SetPeers replaces group id's map of Raft ids to server names (after a
// configuration change).
func (h *Host) SetPeers(id uint64, peers map[uint64]string) error {
	h.mu.RLock()
	g := h.mu.groups[id]
	h.mu.RUnlock()
	if g == nil || g.node == nil {
		return fmt.Errorf("%w: %d", ErrNoGroup, id)
	}
	g.peers.Store(copyPeers(peers))
	return nil
}

// Group returns group id's Node, nil when it is not running.
func (h *Host) Group(id uint64) *Node {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if g := h.mu.groups[id]; g != nil {
		return g.node
	}
	return nil
}

// Groups returns the number of running groups.
func (h *Host) Groups() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	c := 0
	for _, g := range h.mu.groups {
		if g.node != nil {
			c++
		}
	}
	return c
}

// Stats returns the counts of dropped incoming frames.
func (h *Host) Stats() HostStats {
	return HostStats{UnknownGroup: h.unknown.Load(), OtherCluster: h.otherCluster.Load(), Malformed: h.malformed.Load()}
}

// Receive hands a frame from server from to its group's Node. It never
// blocks. Frames that do not parse, are not KindRaft, carry another
// cluster id or name a group not running here are dropped and counted
// (Stats). frame is not retained.
func (h *Host) Receive(from string, frame []byte) {
	f, err := ParseFrame(frame)
	if err != nil {
		h.malformed.Add(1)
		return
	}
	if f.Kind != KindRaft {
		h.receiveOther(from, f)
		return
	}
	if f.Cluster != h.cfg.Cluster() {
		h.otherCluster.Add(1)
		return
	}
	h.mu.RLock()
	g := h.mu.groups[f.Group]
	var n *Node
	if g != nil {
		n = g.node
	}
	h.mu.RUnlock()
	if n == nil {
		h.unknown.Add(1)
		return
	}
	m := new(raftpb.Message)
	if proto.Unmarshal(f.Payload, m) != nil {
		h.malformed.Add(1)
		return
	}
	n.Step(m)
}

// send is group g's Config.Send, on its Node's goroutine.
func (h *Host) send(g *hostGroup, m *raftpb.Message) bool {
	to, ok := (*g.peers.Load())[m.GetTo()]
	if !ok || m.GetTo() == g.self {
		return false
	}
	// The message is encoded straight after the frame's header: one
	// buffer per message rather than a payload copied into a frame.
	frame := AppendFrame(make([]byte, 0, 20+proto.Size(m)), Frame{Kind: KindRaft, Cluster: h.cfg.Cluster(), Group: g.id})
	frame, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(frame, m)
	if err != nil {
		return false
	}
	return h.cfg.Transport.Send(to, frame)
}

// Close stops every group and the tick goroutine, then closes the DB.
// Calls after the first return nil.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.mu.closed {
		h.mu.Unlock()
		return nil
	}
	h.mu.closed = true
	var nodes []*Node
	for _, g := range h.mu.groups {
		if g.node != nil {
			nodes = append(nodes, g.node)
		}
	}
	h.mu.groups = make(map[uint64]*hostGroup)
	h.mu.Unlock()
	for _, n := range nodes {
		n.Stop()
	}
	h.busy.Wait() // StartGroup and RemoveGroup calls in flight
	close(h.stop)
	<-h.done
	return h.cfg.DB.Close()
}

func copyPeers(p map[uint64]string) *map[uint64]string {
	c := make(map[uint64]string, len(p))
	for id, name := range p {
		c[id] = name
	}
	return &c
}

// receiveOther hands a frame of another kind to its group's OnFrame.
func (h *Host) receiveOther(from string, f Frame) {
	if f.Cluster != h.cfg.Cluster() {
		h.otherCluster.Add(1)
		return
	}
	h.mu.RLock()
	g := h.mu.groups[f.Group]
	h.mu.RUnlock()
	if g == nil || g.onFrame == nil {
		h.malformed.Add(1)
		return
	}
	g.onFrame(from, f.Kind, f.Payload)
}

// SendFrame sends a frame of kind (not KindRaft) of group id to the
// named server; false when it was dropped. It never blocks.
func (h *Host) SendFrame(id uint64, to string, kind Kind, payload []byte) bool {
	frame := AppendFrame(make([]byte, 0, 20+len(payload)), Frame{
		Kind: kind, Cluster: h.cfg.Cluster(), Group: id, Payload: payload,
	})
	return h.cfg.Transport.Send(to, frame)
}
