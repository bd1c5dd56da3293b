package meta

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/cairn-db/cairn/internal/repl"
)

// Errors. Test with errors.Is.
var (
	// ErrUnavailable: the group had no leader or no quorum before the
	// context ended. A proposal may still commit later: look it up.
	ErrUnavailable = errors.New("meta: metadata group unavailable (no leader or no quorum)")
	// ErrNotAssigned: Unassign or SetConfig of a stream that is not
	// assigned to the node named (its Node or one of its Peers), or
	// SetPeers of a stream not assigned at all.
	ErrNotAssigned = errors.New("meta: stream not assigned to that node")
	// ErrClosed: the Group was closed.
	ErrClosed = errors.New("meta: closed")
	// ErrCorrupt: the durable log in Options.Dir cannot be trusted; Open
	// refuses it.
	ErrCorrupt = repl.ErrCorrupt
)

// Transport carries opaque frames between nodes, by server name; the
// daemon implements it over the route layer (Cluster.SendRaft /
// Options.OnRaft), delivering each frame to the peer's Group.Receive.
// Frames between two nodes should arrive in order (one route does
// that); the bootstrap rule relies on it (doc.go). Its methods are
// called from the Group's goroutines and from Leader, with no Group
// lock held, and must not call back into the Group.
type Transport interface {
	// Send hands data to the route to peer to. It never blocks and may
	// drop (Raft retries); false means dropped. The callee owns data.
	Send(to string, data []byte) bool
	// Peers returns the server names of the connected peers.
	Peers() []string
}

// Options configure a Group.
type Options struct {
	// Name is this node's server name, stable across restarts. Its Raft
	// id is FNV-64a of the name.
	Name string
	// Dir holds the durable log (Pebble); "" keeps it in memory.
	Dir       string
	Transport Transport
	// Logf logs what an operator may want to know (bootstrap, joins).
	Logf func(format string, args ...any)
	// Errorf logs what needs an operator (two groups that met, a node
	// that cannot join, a failed disk write); nil uses Logf.
	Errorf func(format string, args ...any)
	// SeedsReady reports whether the node has routes to all its
	// configured seed routes; bootstrap waits for it. Nil: always.
	SeedsReady func() bool
	// OnChange is called, with no lock held, after applied entries
	// changed assignments. It runs on the Raft goroutine: it may read
	// (Lookup, Streams) but must not wait for the Group (Assign, …).
	OnChange func()
	// TickInterval is the Raft tick (default 100ms): elections after
	// 20–40 ticks, heartbeats every 3, hellos every 3 ticks before the
	// group exists and every 50 after.
	TickInterval time.Duration
	// SnapshotEvery: applied entries between snapshots (default 1024).
	SnapshotEvery uint64
}

// Group is this node's member of the cluster's metadata group. All
// methods are safe for concurrent use.
type Group struct {
	opts  Options
	id    uint64
	db    *repl.DB
	log   *repl.Log
	fsm   *fsm
	ctl   chan inbound
	peers chan struct{}
	stop  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once

	node    atomic.Pointer[repl.Node] // nil until bootstrapped or joining
	cluster atomic.Uint64             // 0 until then
	catchUp catchUp                   // a joiner's vote withheld until it caught up

	routes struct { // Raft id → server name of connected peers
		sync.Mutex
		byID map[uint64]string
	}
	ctlState // control goroutine only (bootstrap.go)
}

// raftID derives a node's Raft id from its server name.
func raftID(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

// Open opens the group's log in opts.Dir and starts the node: it
// resumes at once when the log holds a group, and otherwise bootstraps
// or joins as doc.go describes. A damaged log is an error matching
// ErrCorrupt.
func Open(opts Options) (*Group, error) {
	if opts.Name == "" {
		return nil, errors.New("meta: Options.Name is required")
	}
	if opts.Transport == nil {
		return nil, errors.New("meta: Options.Transport is required")
	}
	if opts.TickInterval <= 0 {
		opts.TickInterval = 100 * time.Millisecond
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.Errorf == nil {
		opts.Errorf = opts.Logf
	}
	g := &Group{
		opts:  opts,
		id:    raftID(opts.Name),
		fsm:   newFSM(),
		ctl:   make(chan inbound, 256),
		peers: make(chan struct{}, 1),
		stop:  make(chan struct{}),
	}
	if g.id == 0 {
		return nil, fmt.Errorf("meta: server name %q gives Raft id 0; rename the node", opts.Name)
	}
	g.routes.byID = map[uint64]string{}
	g.initCtl()
	db, err := repl.OpenDB(opts.Dir)
	if err != nil {
		return nil, err
	}
	g.db, g.log = db, db.Log(repl.MetaGroup)
	if err := g.resume(); err != nil {
		db.Close()
		return nil, err
	}
	g.wg.Add(1)
	go g.control()
	return g, nil
}

// resume starts the node when the log names the group it belongs to.
func (g *Group) resume() error {
	v, ok, err := g.log.Meta("cluster")
	if err != nil {
		return err
	}
	if !ok {
		st, err := g.log.Load()
		if err != nil {
			return err
		}
		if !st.Empty() {
			return fmt.Errorf("%w: %s holds a raft log but no cluster id", ErrCorrupt, g.opts.Dir)
		}
		return nil
	}
	if len(v) != 8 || binary.BigEndian.Uint64(v) == 0 {
		return fmt.Errorf("%w: cluster id in %s: %x", ErrCorrupt, g.opts.Dir, v)
	}
	if f, ok, err := g.log.Meta("fresh"); err != nil {
		return err
	} else if ok && len(f) == 1 && f[0] == 1 {
		g.catchUp.fresh.Store(true) // joined, and not caught up before it stopped
	}
	return g.startNode(binary.BigEndian.Uint64(v), nil)
}

// startNode records cluster as this node's group and starts Raft:
// peers non-nil bootstraps a new group, nil resumes or waits to be
// added.
func (g *Group) startNode(cluster uint64, peers []raft.Peer) error {
	if err := g.log.SetMeta("cluster", binary.BigEndian.AppendUint64(nil, cluster)); err != nil {
		return err
	}
	g.cluster.Store(cluster) // before the node sends its first frame
	n, err := repl.StartNode(repl.Config{
		ID:             g.id,
		Group:          repl.MetaGroup,
		Log:            g.log,
		FSM:            g.fsm,
		Send:           g.send,
		Bootstrap:      peers,
		Tick:           g.opts.TickInterval,
		ElectionTicks:  electionTicks,
		HeartbeatTicks: heartbeatTicks,
		SnapshotEvery:  g.opts.SnapshotEvery,
		OnApplied:      g.applied,
		Logf:           g.opts.Errorf, // repl logs only what stops or loses data
	})
	if err != nil {
		g.cluster.Store(0)
		return err
	}
	g.node.Store(n)
	return nil
}

func (g *Group) applied() {
	if g.fsm.takeChanged() && g.opts.OnChange != nil {
		g.opts.OnChange()
	}
}

// send is the Raft node's Config.Send.
func (g *Group) send(m *raftpb.Message) bool {
	if g.withholdVote(m) {
		return false
	}
	to := g.nameOf(m.GetTo())
	if to == "" {
		return false
	}
	payload, err := proto.Marshal(m)
	if err != nil {
		g.opts.Errorf("meta: encoding raft message: %v", err)
		return false
	}
	return g.opts.Transport.Send(to, repl.AppendFrame(nil, repl.Frame{
		Kind: repl.KindRaft, Cluster: g.cluster.Load(), Group: repl.MetaGroup, Payload: payload,
	}))
}

// nameOf returns the server name of Raft id, "" when unknown.
func (g *Group) nameOf(id uint64) string {
	if name, ok := g.fsm.memberName(id); ok {
		return name
	}
	g.routes.Lock()
	defer g.routes.Unlock()
	if name, ok := g.routes.byID[id]; ok {
		return name
	}
	g.refreshRoutesLocked()
	return g.routes.byID[id]
}

func (g *Group) refreshRoutesLocked() {
	clear(g.routes.byID)
	for _, p := range g.opts.Transport.Peers() {
		g.routes.byID[raftID(p)] = p
	}
}

// Receive hands the group a frame from peer from. It is called on the
// transport's reader goroutine, copies what it keeps and never blocks
// (a frame that finds a full queue is dropped).
func (g *Group) Receive(from string, data []byte) {
	f, err := repl.ParseFrame(data)
	if err != nil {
		return
	}
	switch f.Kind {
	case repl.KindRaft:
		n := g.node.Load()
		if n == nil || f.Group != repl.MetaGroup || f.Cluster != g.cluster.Load() {
			return // not (yet) ours; another cluster is reported by hellos
		}
		m := new(raftpb.Message)
		if proto.Unmarshal(f.Payload, m) != nil {
			return
		}
		g.noteLeaderMsg(m)
		n.Step(m)
	case repl.KindHello, repl.KindJoin:
		in := inbound{from: from, kind: f.Kind, cluster: f.Cluster, payload: append([]byte(nil), f.Payload...)}
		select {
		case g.ctl <- in:
		default:
		}
	}
}

// PeersChanged hints that Transport.Peers changed. It never blocks.
func (g *Group) PeersChanged() {
	select {
	case g.peers <- struct{}{}:
	default:
	}
}

// Close stops the group's goroutines and closes its log. Waiting calls
// return ErrClosed. Close is idempotent.
func (g *Group) Close() error {
	var err error
	g.once.Do(func() {
		close(g.stop)
		g.wg.Wait()
		if n := g.node.Load(); n != nil {
			n.Stop()
		}
		err = g.db.Close()
	})
	return err
}

func (g *Group) closed() bool {
	select {
	case <-g.stop:
		return true
	default:
		return false
	}
}

// Lookup returns the assignment of account's stream as applied on this
// node (no Raft round trip; it may lag the leader).
func (g *Group) Lookup(account, stream string) (Assignment, bool) {
	return g.fsm.lookup(account, stream)
}

// Streams returns account's assignments as applied here, sorted by
// stream name.
func (g *Group) Streams(account string) []Assignment { return g.fsm.list(account) }

// Leader returns the leader's server name, "" when none is known.
func (g *Group) Leader() string {
	n := g.node.Load()
	if n == nil || n.Leader() == 0 {
		return ""
	}
	return g.nameOf(n.Leader())
}

// Members returns the members' server names, sorted, as applied here.
func (g *Group) Members() []string { return g.fsm.memberNames() }

// Ready reports whether this node knows a leader.
func (g *Group) Ready() bool {
	n := g.node.Load()
	return n != nil && n.Leader() != 0
}

// Cluster returns the group's cluster id, 0 before this node
// bootstrapped or joined one.
func (g *Group) Cluster() uint64 { return g.cluster.Load() }

// Assign proposes a; the first committed assignment of a name wins. It
// returns the committed assignment, which is another node's when that
// one won (compare Node). Created defaults to now. With more than one
// peer in a.Peers the stream is replicated: the group numbers the peers
// 1..R, sets Group and makes Node the first peer (the ids, Group and
// Node given are ignored). It waits until this node applied the entry,
// and returns ErrUnavailable when ctx ends first.
func (g *Group) Assign(ctx context.Context, a Assignment) (Assignment, error) {
	if len(a.Peers) > 1 {
		if err := checkPeerNames(a.Peers); err != nil {
			return Assignment{}, err
		}
		a.Node = a.Peers[0].Name
	}
	if a.Account == "" || a.Stream == "" || a.Node == "" {
		return Assignment{}, errors.New("meta: Assign needs an account, a stream and a node")
	}
	if a.Created.IsZero() {
		a.Created = time.Now().UTC()
	}
	a.Revision = 0
	return g.propose(ctx, op{Op: "assign", Assignment: a})
}

// Unassign removes account's stream if it is still assigned to node
// (its Node, or one of its Peers); ErrNotAssigned otherwise.
func (g *Group) Unassign(ctx context.Context, account, stream, node string) error {
	_, err := g.propose(ctx, op{Op: "unassign", Assignment: Assignment{Account: account, Stream: stream, Node: node}})
	return err
}

// SetConfig replaces the definition of account's stream if it is
// assigned to node (its Node, or one of its Peers: whichever leads the
// stream's group records it); ErrNotAssigned otherwise.
func (g *Group) SetConfig(ctx context.Context, account, stream, node string, cfg json.RawMessage) error {
	_, err := g.propose(ctx, op{Op: "config", Assignment: Assignment{Account: account, Stream: stream, Node: node, Config: cfg}})
	return err
}

func (g *Group) propose(ctx context.Context, o op) (Assignment, error) {
	data, err := json.Marshal(o)
	if err != nil {
		return Assignment{}, fmt.Errorf("meta: %w", err)
	}
	n, err := g.waitNode(ctx)
	if err != nil {
		return Assignment{}, err
	}
	r, err := n.Propose(ctx, data)
	switch {
	case errors.Is(err, repl.ErrClosed) && n.Err() != nil:
		return Assignment{}, fmt.Errorf("%w: %w", ErrUnavailable, n.Err())
	case errors.Is(err, repl.ErrClosed):
		return Assignment{}, ErrClosed
	case errors.Is(err, repl.ErrUnavailable):
		if ctx.Err() != nil {
			err = context.Cause(ctx)
		}
		return Assignment{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	case err != nil:
		return Assignment{}, err
	}
	res := r.(result)
	return res.a, res.err
}

// waitNode waits for the node to exist (the group may still be
// forming).
func (g *Group) waitNode(ctx context.Context) (*repl.Node, error) {
	var tick *time.Ticker
	for {
		if g.closed() {
			return nil, ErrClosed
		}
		if n := g.node.Load(); n != nil {
			return n, nil
		}
		if tick == nil {
			tick = time.NewTicker(g.opts.TickInterval)
			defer tick.Stop()
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, context.Cause(ctx))
		case <-g.stop:
			return nil, ErrClosed
		}
	}
}
