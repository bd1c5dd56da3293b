package meta

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/cairn-db/cairn/internal/repl"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTick keeps tests quick: elections after 100–200 ms.
const testTick = 10 * time.Millisecond

// network connects in-process Groups. Two nodes are connected when both
// are up and in the same partition (0 unless partition was called).
type network struct {
	t     *testing.T
	mu    sync.Mutex
	nodes map[string]*Group
	part  map[string]int
	links map[[2]string]bool // nil: every pair may connect
	snaps atomic.Int64       // MsgSnap frames delivered
	logMu sync.Mutex
	logs  []string
}

func newNetwork(t *testing.T) *network {
	n := &network{t: t, nodes: map[string]*Group{}, part: map[string]int{}}
	t.Cleanup(func() {
		n.closeAll()
		if t.Failed() {
			n.logMu.Lock()
			t.Log("group logs:\n" + strings.Join(n.logs, "\n"))
			n.logMu.Unlock()
		}
	})
	return n
}

type endpoint struct {
	net  *network
	name string
}

func (e endpoint) Send(to string, data []byte) bool {
	e.net.mu.Lock()
	g := e.net.nodes[to]
	ok := g != nil && e.net.connectedLocked(e.name, to)
	e.net.mu.Unlock()
	if !ok {
		return false
	}
	if f, err := repl.ParseFrame(data); err == nil && f.Kind == repl.KindRaft {
		m := new(raftpb.Message)
		if proto.Unmarshal(f.Payload, m) == nil && m.GetType() == raftpb.MsgSnap {
			e.net.snaps.Add(1)
		}
	}
	g.Receive(e.name, data)
	return true
}

func (e endpoint) Peers() []string {
	e.net.mu.Lock()
	defer e.net.mu.Unlock()
	var out []string
	for name := range e.net.nodes {
		if name != e.name && e.net.connectedLocked(e.name, name) {
			out = append(out, name)
		}
	}
	return out
}

func (n *network) connectedLocked(a, b string) bool {
	_, upA := n.nodes[a]
	_, upB := n.nodes[b]
	if !upA || !upB || n.part[a] != n.part[b] {
		return false
	}
	return n.links == nil || n.links[pairOf(a, b)]
}

func pairOf(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

// restrictLinks makes only the pairs given to link connect (from now on).
func (n *network) restrictLinks() {
	n.mu.Lock()
	n.links = map[[2]string]bool{}
	n.mu.Unlock()
	n.peersChanged()
}

// link connects a and b (after restrictLinks).
func (n *network) link(a, b string) {
	n.mu.Lock()
	n.links[pairOf(a, b)] = true
	n.mu.Unlock()
	n.peersChanged()
}

func (n *network) logf(name string) func(string, ...any) {
	return func(format string, args ...any) {
		n.logMu.Lock()
		n.logs = append(n.logs, time.Now().Format("15:04:05.000 ")+name+": "+fmt.Sprintf(format, args...))
		n.logMu.Unlock()
	}
}

func (n *network) logged(substr string) int {
	n.logMu.Lock()
	defer n.logMu.Unlock()
	c := 0
	for _, l := range n.logs {
		if strings.Contains(l, substr) {
			c++
		}
	}
	return c
}

// start opens a Group named name (dir "" in memory) and connects it.
func (n *network) start(name, dir string, tweak func(*Options)) *Group {
	n.t.Helper()
	opts := Options{
		Name:         name,
		Dir:          dir,
		Transport:    endpoint{n, name},
		Logf:         n.logf(name),
		Errorf:       n.logf(name + ": ERROR"),
		TickInterval: testTick,
	}
	if tweak != nil {
		tweak(&opts)
	}
	g, err := Open(opts)
	if err != nil {
		n.t.Fatalf("Open %s: %v", name, err)
	}
	n.mu.Lock()
	n.nodes[name] = g
	n.mu.Unlock()
	n.peersChanged()
	return g
}

// stop closes one node and disconnects it.
func (n *network) stop(name string) {
	n.mu.Lock()
	g := n.nodes[name]
	delete(n.nodes, name)
	n.mu.Unlock()
	if g != nil {
		if err := g.Close(); err != nil {
			n.t.Errorf("Close %s: %v", name, err)
		}
	}
	n.peersChanged()
}

func (n *network) closeAll() {
	n.mu.Lock()
	names := make([]string, 0, len(n.nodes))
	for name := range n.nodes {
		names = append(names, name)
	}
	n.mu.Unlock()
	for _, name := range names {
		n.stop(name)
	}
}

func (n *network) peersChanged() {
	n.mu.Lock()
	gs := make([]*Group, 0, len(n.nodes))
	for _, g := range n.nodes {
		gs = append(gs, g)
	}
	n.mu.Unlock()
	for _, g := range gs {
		g.PeersChanged()
	}
}

// partition puts each list of names in a partition of its own; nodes
// not named stay in partition 0.
func (n *network) partition(groups ...[]string) {
	n.mu.Lock()
	clear(n.part)
	for i, names := range groups {
		for _, name := range names {
			n.part[name] = i + 1
		}
	}
	n.mu.Unlock()
	n.peersChanged()
}

func (n *network) heal() { n.partition() }

func (n *network) group(name string) *Group {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.nodes[name]
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}

// waitFormed waits until every named node is in one group whose members
// are exactly names and agrees on one leader among them.
func waitFormed(t *testing.T, n *network, names []string) {
	t.Helper()
	want := slices.Sorted(slices.Values(names))
	waitFor(t, 10*time.Second, fmt.Sprintf("group of %v", want), func() bool {
		var cluster uint64
		leader := ""
		for i, name := range names {
			g := n.group(name)
			if g == nil || g.Cluster() == 0 || !slices.Equal(g.Members(), want) || g.Leader() == "" {
				return false
			}
			if i == 0 {
				cluster, leader = g.Cluster(), g.Leader()
			} else if g.Cluster() != cluster || g.Leader() != leader {
				return false
			}
		}
		return slices.Contains(want, leader)
	})
}

func names(prefix string, count int) []string {
	out := make([]string, count)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i+1)
	}
	return out
}
