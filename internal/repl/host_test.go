package repl

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
)

// fakeNet connects Hosts in one process by server name, delivering
// frames synchronously, with hosts that can be cut off.
type fakeNet struct {
	mu    sync.Mutex
	hosts map[string]*Host
	cut   map[string]bool
}

// netTransport is one host's side of a fakeNet.
type netTransport struct {
	net  *fakeNet
	from string
}

func (t netTransport) Send(to string, frame []byte) bool {
	t.net.mu.Lock()
	h, blocked := t.net.hosts[to], t.net.cut[t.from] || t.net.cut[to]
	t.net.mu.Unlock()
	if h == nil || blocked {
		return false
	}
	h.Receive(t.from, append([]byte(nil), frame...))
	return true
}

func (fn *fakeNet) setCut(name string, cut bool) {
	fn.mu.Lock()
	defer fn.mu.Unlock()
	fn.cut[name] = cut
}

// hostCluster is size Hosts named h1…hN; Raft id i is host hi in every
// group.
type hostCluster struct {
	net   *fakeNet
	hosts []*Host // hosts[i] is h(i+1)
}

func newHostCluster(t *testing.T, size int) *hostCluster {
	t.Helper()
	c := &hostCluster{net: &fakeNet{hosts: map[string]*Host{}, cut: map[string]bool{}}}
	for i := 1; i <= size; i++ {
		name := fmt.Sprintf("h%d", i)
		db, err := OpenDB("")
		if err != nil {
			t.Fatal(err)
		}
		h, err := NewHost(HostConfig{DB: db, Transport: netTransport{net: c.net, from: name}, Tick: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		c.net.mu.Lock()
		c.net.hosts[name] = h
		c.net.mu.Unlock()
		c.hosts = append(c.hosts, h)
	}
	t.Cleanup(func() {
		for _, h := range c.hosts {
			if err := h.Close(); err != nil {
				t.Error(err)
			}
		}
	})
	return c
}

// isCut reports whether host index i is cut off.
func (c *hostCluster) isCut(i int) bool {
	c.net.mu.Lock()
	defer c.net.mu.Unlock()
	return c.net.cut[fmt.Sprintf("h%d", i+1)]
}

// startGroup starts group id on every host, all of them members.
func (c *hostCluster) startGroup(t *testing.T, id uint64) {
	t.Helper()
	peers := map[uint64]string{}
	var boot []raft.Peer
	for i := range c.hosts {
		peers[uint64(i+1)] = fmt.Sprintf("h%d", i+1)
		boot = append(boot, raft.Peer{ID: uint64(i + 1)})
	}
	for i, h := range c.hosts {
		if _, err := h.StartGroup(GroupConfig{
			ID: id, Self: uint64(i + 1), Peers: peers, FSM: &countFSM{}, Bootstrap: boot,
			ElectionTicks: 10, HeartbeatTicks: 1,
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// waitLeader waits until the running members of group id on the hosts
// not cut off agree on a leader among them, and returns its host index.
func (c *hostCluster) waitLeader(t *testing.T, id uint64, timeout time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var lead uint64
		agree := true
		for i, h := range c.hosts {
			n := h.Group(id)
			if c.isCut(i) || n == nil {
				continue
			}
			l := n.Leader()
			if l == 0 || (lead != 0 && l != lead) {
				agree = false
				break
			}
			lead = l
		}
		if agree && lead != 0 && !c.isCut(int(lead-1)) {
			return int(lead - 1)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("group %d: no leader within %v", id, timeout)
	return 0
}

// TestHostManyGroups: 3 hosts × 50 groups elect leaders and apply a
// proposal in every group, proposed on a follower, and every member
// applies it.
func TestHostManyGroups(t *testing.T) {
	const groups = 50
	c := newHostCluster(t, 3)
	for id := uint64(1); id <= groups; id++ {
		c.startGroup(t, id)
	}
	for _, h := range c.hosts {
		if got := h.Groups(); got != groups {
			t.Fatalf("Groups() = %d, want %d", got, groups)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, groups)
	for id := uint64(1); id <= groups; id++ {
		lead := c.waitLeader(t, id, 20*time.Second)
		proposer := c.hosts[(lead+1)%3].Group(id) // a follower: forwarded to the leader
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := proposer.Propose(ctx, []byte("x"))
			if err != nil {
				errs <- fmt.Errorf("group %d: %w", id, err)
			} else if res != 1 {
				errs <- fmt.Errorf("group %d: result %v, want 1", id, res)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Every member of every group applies the entry (the leader's
	// empty entry, then the proposal: applied ≥ 5 with 3 conf changes).
	for id := uint64(1); id <= groups; id++ {
		for i, h := range c.hosts {
			n := h.Group(id)
			waitFor(t, fmt.Sprintf("group %d on h%d to apply", id, i+1), func() bool {
				return n.Applied() >= c.hosts[0].Group(id).Applied() && n.Applied() >= 5
			})
		}
	}
	for i, h := range c.hosts {
		if s := h.Stats(); s != (HostStats{}) {
			t.Errorf("h%d dropped frames: %+v", i+1, s)
		}
	}
}

// TestHostDropsUnknown: frames of a group not running, of another
// cluster, and frames that do not parse, are dropped and counted.
func TestHostDropsUnknown(t *testing.T) {
	c := newHostCluster(t, 1)
	h := c.hosts[0]
	h.Receive("x", AppendFrame(nil, Frame{Kind: KindRaft, Group: 7, Payload: nil}))
	h.Receive("x", AppendFrame(nil, Frame{Kind: KindRaft, Cluster: 9, Group: 7}))
	h.Receive("x", []byte{1, 2})
	h.Receive("x", AppendFrame(nil, Frame{Kind: KindHello, Group: 7}))
	want := HostStats{UnknownGroup: 1, OtherCluster: 1, Malformed: 2}
	if got := h.Stats(); got != want {
		t.Fatalf("Stats() = %+v, want %+v", got, want)
	}
}

// TestHostStopRemove: StopGroup keeps the log (the group resumes where
// it was), RemoveGroup deletes it; both refuse unknown groups and
// frames to a stopped group are dropped.
func TestHostStopRemove(t *testing.T) {
	dir := t.TempDir()
	db, err := OpenDB(dir)
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHost(HostConfig{DB: db, Transport: netTransport{net: &fakeNet{}, from: "h1"}, Tick: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	start := func() *Node {
		t.Helper()
		n, err := h.StartGroup(GroupConfig{ID: 3, Self: 1, FSM: &countFSM{}, Bootstrap: []raft.Peer{{ID: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	n := start()
	if _, err := h.StartGroup(GroupConfig{ID: 3, Self: 1, FSM: &countFSM{}}); !errors.Is(err, ErrGroupExists) {
		t.Fatalf("second StartGroup: %v, want ErrGroupExists", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := n.Propose(ctx, []byte("a")); err != nil {
		t.Fatal(err)
	}
	applied := n.Applied()
	if err := h.StopGroup(3); err != nil {
		t.Fatal(err)
	}
	if h.Group(3) != nil {
		t.Fatal("a stopped group is still listed")
	}
	if err := h.StopGroup(3); !errors.Is(err, ErrNoGroup) {
		t.Fatalf("StopGroup twice: %v, want ErrNoGroup", err)
	}
	h.Receive("h2", AppendFrame(nil, Frame{Kind: KindRaft, Group: 3}))
	if got := h.Stats().UnknownGroup; got != 1 {
		t.Fatalf("UnknownGroup = %d, want 1", got)
	}
	if _, err := n.Propose(ctx, []byte("b")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Propose on a stopped group: %v, want ErrClosed", err)
	}

	n = start() // resumes from its log, replaying it
	waitFor(t, "the restarted group to replay its log", func() bool { return n.Applied() >= applied })
	for _, g := range []uint64{2, 4} { // neighbours keep theirs
		if err := db.Log(g).SetMeta("k", []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.RemoveGroup(3); err != nil {
		t.Fatal(err)
	}
	if h.Group(3) != nil || h.Groups() != 0 {
		t.Fatal("a removed group is still listed")
	}
	st, err := db.Log(3).Load()
	if err != nil {
		t.Fatal(err)
	}
	if !st.Empty() {
		t.Fatalf("a removed group's log holds %+v", st)
	}
	for _, g := range []uint64{2, 4} {
		if v, ok, err := db.Log(g).Meta("k"); err != nil || !ok || string(v) != "v" {
			t.Fatalf("group %d's log after removing group 3: %q %v %v", g, v, ok, err)
		}
	}
	if err := h.SetPeers(3, nil); !errors.Is(err, ErrNoGroup) {
		t.Fatalf("SetPeers on a removed group: %v", err)
	}
}

// TestHostOneTicker: a Host's groups add the goroutines of their Nodes
// only (Node.run and raft's node), never one per group for ticking, and
// the Host itself runs one.
func TestHostOneTicker(t *testing.T) {
	base := runtime.NumGoroutine()
	db, err := OpenDB("")
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHost(HostConfig{DB: db, Transport: netTransport{net: &fakeNet{}, from: "h1"}, Tick: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if got := runtime.NumGoroutine() - base; got != 1 {
		t.Errorf("an empty Host runs %d goroutines, want 1", got)
	}
	const groups = 40
	for id := uint64(1); id <= groups; id++ {
		if _, err := h.StartGroup(GroupConfig{ID: id, Self: 1, FSM: &countFSM{}, Bootstrap: []raft.Peer{{ID: 1}}}); err != nil {
			t.Fatal(err)
		}
	}
	// Each group elects itself: the one ticker serves them all.
	for id := uint64(1); id <= groups; id++ {
		n := h.Group(id)
		waitFor(t, fmt.Sprintf("group %d to elect itself", id), func() bool { return n.Leader() == 1 })
	}
	if got, want := runtime.NumGoroutine()-base, 1+2*groups; got > want {
		t.Errorf("a Host with %d groups runs %d goroutines, want at most %d", groups, got, want)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= base })
}

// TestHostCutOff: when a host is cut off, every group it led elects a
// leader on the others and takes proposals there; back in, it catches
// up.
func TestHostCutOff(t *testing.T) {
	const groups = 10
	c := newHostCluster(t, 3)
	for id := uint64(1); id <= groups; id++ {
		c.startGroup(t, id)
	}
	// Make h1 the leader of every group, so that cutting it off forces
	// an election in each.
	for id := uint64(1); id <= groups; id++ {
		lead := c.waitLeader(t, id, 10*time.Second)
		if lead != 0 {
			c.hosts[lead].Group(id).TransferLeadership(1)
		}
	}
	for id := uint64(1); id <= groups; id++ {
		n := c.hosts[0].Group(id)
		waitFor(t, fmt.Sprintf("h1 to lead group %d", id), func() bool {
			if n.Leader() != 1 {
				if l := n.Leader(); l > 1 {
					c.hosts[l-1].Group(id).TransferLeadership(1)
				}
				return false
			}
			return true
		})
	}
	c.net.setCut("h1", true)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for id := uint64(1); id <= groups; id++ {
		lead := c.waitLeader(t, id, 10*time.Second)
		if lead == 0 {
			t.Fatalf("group %d: the cut-off host still leads", id)
		}
		if _, err := c.hosts[lead].Group(id).Propose(ctx, []byte("y")); err != nil {
			t.Fatalf("group %d: %v", id, err)
		}
	}
	c.net.setCut("h1", false)
	for id := uint64(1); id <= groups; id++ {
		n, other := c.hosts[0].Group(id), c.hosts[1].Group(id)
		waitFor(t, fmt.Sprintf("h1 to catch up in group %d", id), func() bool {
			return n.Applied() >= other.Applied()
		})
	}
}

// waitFor polls cond until it holds, failing after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHostConcurrent: starts, stops, removals, incoming frames and
// Close from many goroutines at once (run with -race); Close leaves no
// goroutine behind (goleak in TestMain).
func TestHostConcurrent(t *testing.T) {
	db, err := OpenDB(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHost(HostConfig{DB: db, Transport: netTransport{net: &fakeNet{}, from: "h1"}, Tick: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var ops atomic.Int64
	halfway := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				id := uint64(1 + (w*7+i)%5)
				switch i % 3 {
				case 0:
					_, err := h.StartGroup(GroupConfig{ID: id, Self: 1, FSM: &countFSM{}, Bootstrap: []raft.Peer{{ID: 1}}})
					if err != nil && !errors.Is(err, ErrGroupExists) && !errors.Is(err, ErrClosed) {
						t.Error(err)
					}
				case 1:
					if err := h.StopGroup(id); err != nil && !errors.Is(err, ErrNoGroup) {
						t.Error(err)
					}
				case 2:
					if err := h.RemoveGroup(id); err != nil && !errors.Is(err, ErrGroupExists) && !errors.Is(err, ErrClosed) {
						t.Error(err)
					}
				}
				h.Receive("h2", AppendFrame(nil, Frame{Kind: KindRaft, Group: id}))
				if ops.Add(1) == 60 {
					close(halfway) // Close lands mid-way
				}
			}
		}()
	}
	<-halfway
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if _, err := h.StartGroup(GroupConfig{ID: 1, Self: 1, FSM: &countFSM{}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("StartGroup after Close: %v, want ErrClosed", err)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
