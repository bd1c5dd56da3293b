// Package cluster starts, kills, restarts and partitions 3-node (or
// larger) clusters of cairn-server or nats-server v2.15.2 on loopback
// ports for the replicated-bucket benchmark (bench/r3) and soak
// (bench/r3soak). Both kinds get the same nats-server flags (-a, -p,
// --server_name n1…, --cluster, --cluster_name, --routes, -js, -sd, -m, -l).
//
// With Options.Proxies every route goes through a TCP proxy owned by this
// process: node i dials node j through its own proxy i→j (so each pair has
// two, one per direction, whichever side's route survives de-duplication),
// and every node advertises a route address that accepts and closes at
// once, so that no node reaches another directly through an address
// learnt by gossip. Partition then cuts and refuses both proxies of every
// pair across the cut.
//
// Every process is stopped by its PID only; KillAll (for an interrupt
// handler) kills every node still running and removes the directories.
package cluster

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options say what to start.
type Options struct {
	Kind    string // "cairn" or "nats-server" (for messages and dir names)
	Bin     string
	Nodes   int
	Proxies bool     // routes through fault proxies (see the package doc)
	Args    []string // extra flags for every node
}

// Node is one server process of a cluster, restartable on its store.
type Node struct {
	Name       string // n1, n2, …
	ClientPort int
	RoutePort  int
	HTTPPort   int    // monitoring (-m): /jsz shows the node's own replicas
	Dir        string // log file and store directory
	args       []string
	bin        string
	mu         sync.Mutex
	cmd        *exec.Cmd
	exited     chan struct{} // closed once cmd.Wait has returned
}

// URL is the node's client URL.
func (n *Node) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.ClientPort) }

func (n *Node) logFile() string { return filepath.Join(n.Dir, "server.log") }

// Alive reports whether the node's current process is running.
func (n *Node) Alive() bool {
	n.mu.Lock()
	ex := n.exited
	n.mu.Unlock()
	if ex == nil {
		return false
	}
	select {
	case <-ex:
		return false
	default:
		return true
	}
}

// PID is the node's current process id (0 if never started).
func (n *Node) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.cmd.Process == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// LogTail returns the last lines of the node's log, for error messages.
func (n *Node) LogTail() string {
	b, err := os.ReadFile(n.logFile())
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	l := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(l) > 15 {
		l = l[len(l)-15:]
	}
	return strings.Join(l, "\n")
}

// Cluster is the nodes of one kind.
type Cluster struct {
	Kind  string
	Dir   string
	Nodes []*Node
	// proxies[i][j] carries the routes node i dials to node j.
	proxies   [][]*Proxy
	blackhole net.Listener
}

// running tracks the nodes and directories not yet stopped, for KillAll.
var running struct {
	mu       sync.Mutex
	nodes    map[*Node]bool
	clusters map[*Cluster]bool
}

func track(c *Cluster, on bool) {
	running.mu.Lock()
	defer running.mu.Unlock()
	if running.clusters == nil {
		running.clusters = map[*Cluster]bool{}
	}
	if on {
		running.clusters[c] = true
	} else {
		delete(running.clusters, c)
	}
}

// KillAll sends SIGKILL, by PID, to every node of every cluster not yet
// stopped, waits up to 5 s for each and removes their directories. For
// the interrupt and fatal-error paths.
func KillAll() {
	running.mu.Lock()
	var cs []*Cluster
	for c := range running.clusters {
		cs = append(cs, c)
	}
	running.mu.Unlock()
	for _, c := range cs {
		for _, n := range c.Nodes {
			n.kill(5 * time.Second)
		}
		c.closeProxies()
		os.RemoveAll(c.Dir)
		track(c, false)
	}
}

// ephemeralLow is the first port of the kernel's ephemeral range: ports
// are picked below it (a port in it could become a route dial's source
// port before the node that should listen on it starts).
var ephemeralLow = func() int {
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 12000 {
				return n
			}
		}
	}
	return 32768
}()

func pickPort(taken map[int]bool) (int, error) {
	for range 1000 {
		port := 10000 + rand.IntN(ephemeralLow-10000)
		if taken[port] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ln.Close()
		taken[port] = true
		return port, nil
	}
	return 0, fmt.Errorf("no free loopback port below %d", ephemeralLow)
}

// Start starts o.Nodes nodes and returns once each listens for clients
// (it does not wait for the cluster to form: see WaitJetStream). A node
// that fails to start makes it try again with new ports, three times at
// most.
func Start(o Options) (*Cluster, error) {
	var err error
	for attempt := 1; ; attempt++ {
		var c *Cluster
		if c, err = tryStart(o); err == nil || attempt == 3 {
			return c, err
		}
		fmt.Fprintf(os.Stderr, "cluster: %s: %v\n(trying again with new ports)\n", o.Kind, err)
	}
}

func tryStart(o Options) (*Cluster, error) {
	dir, err := os.MkdirTemp("", "cairn-r3bench-"+o.Kind+"-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Kind: o.Kind, Dir: dir}
	track(c, true)
	taken := map[int]bool{}
	for i := range o.Nodes {
		n := &Node{Name: fmt.Sprintf("n%d", i+1), Dir: filepath.Join(dir, fmt.Sprintf("n%d", i+1)), bin: o.Bin}
		if n.ClientPort, err = pickPort(taken); err == nil {
			n.RoutePort, err = pickPort(taken)
		}
		if err == nil {
			n.HTTPPort, err = pickPort(taken)
		}
		if err == nil {
			err = os.Mkdir(n.Dir, 0o700)
		}
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.Nodes = append(c.Nodes, n)
	}
	if err := c.setRoutes(o); err != nil {
		c.Stop()
		return nil, err
	}
	for _, n := range c.Nodes {
		if err := n.start(); err != nil {
			c.Stop()
			return nil, err
		}
	}
	return c, nil
}

// setRoutes gives each node its arguments: routes to every other node,
// directly or through proxies.
func (c *Cluster) setRoutes(o Options) error {
	direct := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		direct[i] = fmt.Sprintf("nats://127.0.0.1:%d", n.RoutePort)
	}
	if o.Proxies {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		c.blackhole = ln
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				conn.Close()
			}
		}()
		c.proxies = make([][]*Proxy, len(c.Nodes))
		for i := range c.Nodes {
			c.proxies[i] = make([]*Proxy, len(c.Nodes))
			for j, to := range c.Nodes {
				if i == j {
					continue
				}
				p, err := startProxy(fmt.Sprintf("127.0.0.1:%d", to.RoutePort))
				if err != nil {
					return err
				}
				c.proxies[i][j] = p
			}
		}
	}
	for i, n := range c.Nodes {
		var routes []string
		for j := range c.Nodes {
			switch {
			case i == j:
			case o.Proxies:
				routes = append(routes, c.proxies[i][j].URL())
			default:
				routes = append(routes, direct[j])
			}
		}
		n.args = []string{"-a", "127.0.0.1", "-p", strconv.Itoa(n.ClientPort), "-m", strconv.Itoa(n.HTTPPort),
			"--server_name", n.Name,
			"--cluster", direct[i], "--cluster_name", "r3bench",
			"--routes", strings.Join(routes, ","),
			"-js", "-sd", filepath.Join(n.Dir, "store"),
			"-l", n.logFile()}
		if o.Proxies {
			n.args = append(n.args, "--cluster_advertise", c.blackhole.Addr().String())
		}
		n.args = append(n.args, o.Args...)
	}
	return nil
}

// start runs the node's process and waits (15 s at most) until it
// accepts client connections.
func (n *Node) start() error {
	cmd := exec.Command(n.bin, n.args...)
	cmd.Stdout, cmd.Stderr = nil, nil // the log goes to the file given by -l
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", n.Name, err)
	}
	exited := make(chan struct{})
	n.mu.Lock()
	n.cmd, n.exited = cmd, exited
	n.mu.Unlock()
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if !n.Alive() {
			return fmt.Errorf("%s exited at start:\n%s", n.Name, n.LogTail())
		}
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", n.ClientPort), time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening on %d within 15s:\n%s", n.Name, n.ClientPort, n.LogTail())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// kill sends SIGKILL to the node's process, if running, and waits up to
// d for it to be reaped.
func (n *Node) kill(d time.Duration) error {
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	default:
	}
	_ = cmd.Process.Kill()
	select {
	case <-exited:
		return nil
	case <-time.After(d):
		return fmt.Errorf("%s (pid %d) not reaped %v after SIGKILL", n.Name, cmd.Process.Pid, d)
	}
}

// Kill sends SIGKILL to node i and waits until it is reaped.
func (c *Cluster) Kill(i int) error { return c.Nodes[i].kill(10 * time.Second) }

// Restart starts node i again on the same ports and store (it must not
// be running) and waits until it accepts client connections.
func (c *Cluster) Restart(i int) error {
	if c.Nodes[i].Alive() {
		return fmt.Errorf("restart %s: still running", c.Nodes[i].Name)
	}
	return c.Nodes[i].start()
}

// Stop ends every node by its PID (SIGTERM, SIGKILL after 10 s), closes
// the proxies and removes the cluster's directory.
func (c *Cluster) Stop() {
	var wg sync.WaitGroup
	for _, n := range c.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.mu.Lock()
			cmd, exited := n.cmd, n.exited
			n.mu.Unlock()
			if cmd == nil || cmd.Process == nil {
				return
			}
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				fmt.Fprintf(os.Stderr, "cluster: %s %s (pid %d) ignored SIGTERM for 10s: killed\n", c.Kind, n.Name, cmd.Process.Pid)
				_ = n.kill(10 * time.Second)
			}
		}()
	}
	wg.Wait()
	c.closeProxies()
	os.RemoveAll(c.Dir)
	track(c, false)
}

func (c *Cluster) closeProxies() {
	if c.blackhole != nil {
		c.blackhole.Close()
	}
	for _, row := range c.proxies {
		for _, p := range row {
			if p != nil {
				p.close()
			}
		}
	}
}

// CheckAlive returns an error naming the first node whose process has
// exited, except those in except (nodes killed on purpose).
func (c *Cluster) CheckAlive(except ...int) error {
	for i, n := range c.Nodes {
		skip := false
		for _, e := range except {
			skip = skip || e == i
		}
		if !skip && !n.Alive() {
			return fmt.Errorf("%s %s exited:\n%s", c.Kind, n.Name, n.LogTail())
		}
	}
	return nil
}

// Index returns the index of the node named name, or -1.
func (c *Cluster) Index(name string) int {
	for i, n := range c.Nodes {
		if n.Name == name {
			return i
		}
	}
	return -1
}

// ErrNoProxies is returned by Partition on a cluster started without
// Options.Proxies.
var ErrNoProxies = errors.New("cluster: started without proxies")

// Partition cuts every route between nodes of different sides and
// refuses new ones until Heal: side[i] is node i's side (e.g. {0, 1, 1}
// isolates n1). It returns how many proxied connections it closed.
func (c *Cluster) Partition(side []int) (int, error) {
	if c.proxies == nil {
		return 0, ErrNoProxies
	}
	cut := 0
	for i := range c.Nodes {
		for j := range c.Nodes {
			if i != j && side[i] != side[j] {
				c.proxies[i][j].refusing.Store(true)
				cut += c.proxies[i][j].cut()
			}
		}
	}
	return cut, nil
}

// Heal lets every proxy carry connections again (the nodes redial).
func (c *Cluster) Heal() {
	for _, row := range c.proxies {
		for _, p := range row {
			if p != nil {
				p.refusing.Store(false)
			}
		}
	}
}
