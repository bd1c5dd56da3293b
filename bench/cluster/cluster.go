package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
)

// A cluster is n server processes of one kind on loopback ports, each
// given every node's route URL as --routes (as examples/cluster.sh and
// tests/cluster do), with its log and store in a temporary directory.

// node is one server process of a cluster.
type node struct {
	name       string // n1, n2, …
	clientPort int
	routePort  int
	dir        string // log file and (with -js) store directory
	cmd        *exec.Cmd
	exited     chan struct{} // closed once cmd.Wait has returned
}

// URL is the node's client URL.
func (n *node) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.clientPort) }

func (n *node) routeURL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.routePort) }

func (n *node) logFile() string { return filepath.Join(n.dir, "server.log") }

func (n *node) pid() int { return n.cmd.Process.Pid }

// alive reports whether the node's process is still running.
func (n *node) alive() bool {
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// logTail returns the last lines of the node's log, for error messages.
func (n *node) logTail() string {
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

// cluster is the nodes of one kind started for one round.
type cluster struct {
	kind  string // "cairn" or "nats-server"
	dir   string
	nodes []*node
}

// running holds every node this process has started and not yet reaped,
// and the directories of clusters not yet stopped, so that an interrupt
// stops the nodes (by PID) and removes the directories before the
// harness exits.
var running struct {
	mu    sync.Mutex
	nodes map[*node]bool
	dirs  map[string]bool
}

func trackDir(dir string, on bool) {
	running.mu.Lock()
	defer running.mu.Unlock()
	if running.dirs == nil {
		running.dirs = map[string]bool{}
	}
	if on {
		running.dirs[dir] = true
	} else {
		delete(running.dirs, dir)
	}
}

func track(n *node, on bool) {
	running.mu.Lock()
	defer running.mu.Unlock()
	if running.nodes == nil {
		running.nodes = map[*node]bool{}
	}
	if on {
		running.nodes[n] = true
	} else {
		delete(running.nodes, n)
	}
}

// killRunning sends SIGKILL, by PID, to every node still running (the
// interrupt path), waits for each to be reaped and removes the clusters'
// directories.
func killRunning() {
	running.mu.Lock()
	nodes := make([]*node, 0, len(running.nodes))
	for n := range running.nodes {
		nodes = append(nodes, n)
	}
	dirs := make([]string, 0, len(running.dirs))
	for d := range running.dirs {
		dirs = append(dirs, d)
	}
	running.mu.Unlock()
	defer func() {
		for _, d := range dirs {
			os.RemoveAll(d)
		}
	}()
	for _, n := range nodes {
		_ = n.cmd.Process.Kill()
	}
	for _, n := range nodes {
		select {
		case <-n.exited:
		case <-time.After(5 * time.Second):
		}
	}
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768
// if unknown). Ports are picked below it, as in tests/cluster: a port in
// that range could meanwhile become the source port of a route dial, and
// the node that should listen on it would fail to start.
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

// pickPort returns a loopback port that was free a moment ago and is not
// in taken, and adds it to taken.
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

// startCluster starts n nodes of kind from bin and returns once the
// cluster has formed (see waitFormed). A node that fails to start (a
// picked port taken meanwhile) makes it try again with new ports, three
// times at most.
func startCluster(kind, bin string, n int, js bool) (*cluster, error) {
	var err error
	for attempt := 1; ; attempt++ {
		var c *cluster
		if c, err = tryStartCluster(kind, bin, n, js); err == nil || attempt == 3 {
			return c, err
		}
		fmt.Fprintf(os.Stderr, "cluster: %s: %v\n(trying again with new ports)\n", kind, err)
	}
}

func tryStartCluster(kind, bin string, n int, js bool) (*cluster, error) {
	dir, err := os.MkdirTemp("", "cairn-clusterbench-"+kind+"-")
	if err != nil {
		return nil, err
	}
	trackDir(dir, true)
	c := &cluster{kind: kind, dir: dir}
	taken := map[int]bool{}
	var routes []string
	for i := range n {
		nd := &node{name: fmt.Sprintf("n%d", i+1), dir: filepath.Join(dir, fmt.Sprintf("n%d", i+1))}
		if err := nodePorts(nd, taken); err != nil {
			c.stop()
			return nil, err
		}
		c.nodes = append(c.nodes, nd)
		routes = append(routes, nd.routeURL())
	}
	for _, nd := range c.nodes {
		if err := nd.start(kind, bin, routes, js); err != nil {
			c.stop()
			return nil, err
		}
	}
	if err := c.waitFormed(20 * time.Second); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// nodePorts picks the node's client and route ports and makes its
// directory.
func nodePorts(n *node, taken map[int]bool) error {
	var err error
	if n.clientPort, err = pickPort(taken); err != nil {
		return err
	}
	if n.routePort, err = pickPort(taken); err != nil {
		return err
	}
	return os.Mkdir(n.dir, 0o700)
}

// start runs the node's process with nats-server's flags, the same for
// both kinds: with js, both get -js and a store directory; without it
// nats-server runs core NATS only (its default) and cairn-server gets
// --no_kv to do the same (KV is on by default in Cairn).
func (n *node) start(kind, bin string, routes []string, js bool) error {
	args := []string{"-a", "127.0.0.1", "-p", strconv.Itoa(n.clientPort),
		"--server_name", n.name,
		"--cluster", n.routeURL(), "--cluster_name", "bench",
		"--routes", strings.Join(routes, ","),
		"-l", n.logFile()}
	switch {
	case js:
		args = append(args, "-js", "-sd", filepath.Join(n.dir, "store"))
	case kind == "cairn":
		args = append(args, "--no_kv")
	}
	n.cmd = exec.Command(bin, args...)
	n.cmd.Stdout, n.cmd.Stderr = nil, nil // both log to the file given by -l
	if err := n.cmd.Start(); err != nil {
		return fmt.Errorf("start %s %s: %w", kind, n.name, err)
	}
	n.exited = make(chan struct{})
	track(n, true)
	go func() { _ = n.cmd.Wait(); close(n.exited) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if !n.alive() {
			return fmt.Errorf("%s %s exited at start:\n%s", kind, n.name, n.logTail())
		}
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", n.clientPort), time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s %s not listening on %d within 15s:\n%s", kind, n.name, n.clientPort, n.logTail())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop ends the node's process by its PID: SIGTERM, then SIGKILL if it
// has not exited within 10 s. It reports whether SIGTERM sufficed.
func (n *node) stop() bool {
	if n.cmd == nil || n.cmd.Process == nil {
		return true
	}
	defer track(n, false)
	if !n.alive() {
		return true
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
		return true
	case <-time.After(10 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.exited
		return false
	}
}

// stop ends every node (all signalled at once, each by its PID) and
// removes the cluster's directory.
func (c *cluster) stop() {
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !n.stop() {
				fmt.Fprintf(os.Stderr, "cluster: %s %s (pid %d) ignored SIGTERM for 10s: killed\n", c.kind, n.name, n.pid())
			}
		}()
	}
	wg.Wait()
	os.RemoveAll(c.dir)
	trackDir(c.dir, false)
}

// checkAlive returns an error naming the first node that has exited.
func (c *cluster) checkAlive() error {
	for _, n := range c.nodes {
		if !n.alive() {
			return fmt.Errorf("%s %s (pid %d) exited:\n%s", c.kind, n.name, n.pid(), n.logTail())
		}
	}
	return nil
}

// waitFormed polls until the mesh is complete and carries messages: each
// node's INFO lists the client URLs of all nodes in connect_urls (a node
// lists a peer once a route to it is up), and then a probe published on
// n1 reaches a subscriber on each other node. Bounded by d.
func (c *cluster) waitFormed(d time.Duration) error {
	deadline := time.Now().Add(d)
	var want []string
	for _, n := range c.nodes {
		want = append(want, fmt.Sprintf("127.0.0.1:%d", n.clientPort))
	}
	slices.Sort(want)
	for _, n := range c.nodes {
		for {
			got, err := connectURLs(fmt.Sprintf("127.0.0.1:%d", n.clientPort))
			slices.Sort(got)
			if err == nil && slices.Equal(got, want) {
				break
			}
			if err := c.checkAlive(); err != nil {
				return err
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s cluster not formed within %v: %s lists %v, want %v (err %v)", c.kind, d, n.name, got, want, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return c.probeMesh(time.Until(deadline))
}

// probeMesh subscribes on every node but n1 and publishes probes on n1
// until each subscriber has received one.
func (c *cluster) probeMesh(d time.Duration) error {
	var errs asyncErrors
	pub, err := connect(c.nodes[0], &errs)
	if err != nil {
		return err
	}
	defer pub.Close()
	subject := nextSubject("formed")
	var seen []func() bool
	for _, n := range c.nodes[1:] {
		nc, err := connect(n, &errs)
		if err != nil {
			return err
		}
		defer nc.Close()
		s, err := nc.SubscribeSync(subject)
		if err != nil {
			return err
		}
		if err := nc.Flush(); err != nil {
			return err
		}
		got := false
		seen = append(seen, func() bool {
			if !got {
				_, err := s.NextMsg(0)
				got = err == nil
			}
			return got
		})
	}
	return awaitProbe(pub, subject, d, func() bool {
		ok := true
		for _, f := range seen {
			ok = f() && ok
		}
		return ok
	})
}

// connectURLs dials a node's client port and returns the connect_urls of
// the INFO it sends first.
func connectURLs(addr string) ([]string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return nil, err
	}
	var info struct {
		ConnectURLs []string `json:"connect_urls"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(strings.TrimSpace(line), "INFO ")), &info); err != nil {
		return nil, fmt.Errorf("INFO %q: %v", line, err)
	}
	return info.ConnectURLs, nil
}

// asyncErrors collects the asynchronous errors nats.go reports (a slow
// consumer, a permissions error) so that a workload fails on them
// instead of waiting for messages that were dropped.
type asyncErrors struct {
	mu  sync.Mutex
	err error
}

func (a *asyncErrors) set(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err == nil {
		a.err = err
	}
}

func (a *asyncErrors) get() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// connect connects nats.go to one node, without reconnecting elsewhere:
// a node that goes away fails the workload rather than moving its
// clients to another node.
func connect(n *node, errs *asyncErrors) (*nats.Conn, error) {
	nc, err := nats.Connect(n.URL(), nats.Timeout(5*time.Second), nats.NoReconnect(),
		nats.ErrorHandler(func(_ *nats.Conn, s *nats.Subscription, err error) {
			if s != nil {
				err = fmt.Errorf("%s on %s: %w", n.name, s.Subject, err)
			}
			errs.set(err)
		}))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", n.name, err)
	}
	return nc, nil
}

var subjectSeq struct {
	mu sync.Mutex
	n  int
}

// nextSubject returns a subject used by no earlier measurement of this
// run, so that no interest or message of one leaks into another.
func nextSubject(prefix string) string {
	subjectSeq.mu.Lock()
	defer subjectSeq.mu.Unlock()
	subjectSeq.n++
	return fmt.Sprintf("bench.%s.%d", prefix, subjectSeq.n)
}

// awaitProbe publishes an empty probe message on subject from pub every
// 20 ms until seen reports that every subscriber got one (interest
// crosses routes asynchronously), for at most d.
func awaitProbe(pub *nats.Conn, subject string, d time.Duration, seen func() bool) error {
	deadline := time.Now().Add(d)
	for {
		if err := pub.Publish(subject, nil); err != nil {
			return err
		}
		if err := pub.Flush(); err != nil {
			return err
		}
		for range 4 {
			if seen() {
				return nil
			}
			time.Sleep(5 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("interest in %s did not reach the publisher's node within %v", subject, d)
		}
	}
}
