// Package cluster tests a cluster of processes (issue 14): three (or
// five) cairn-server processes on loopback ports, started with
// nats-server's cluster flags, and the same scenarios against a
// three-node nats-server cluster started with the same flags
// (differential, onBoth and compareOnBoth). A node is killed with
// SIGKILL and restarted on the same ports and store, and a
// fault-injecting TCP proxy on a route cuts it.
//
// Core messaging: messaging_test.go, fault_test.go. JetStream KV on R1
// buckets placed by the metadata group (nats-server with -js): kv_test.go
// and watch_test.go (every operation from every node, compared with
// nats-server), failure_test.go (the holder killed), five_test.go (five
// nodes, the metadata leader killed), routecut_test.go (a KV workload
// across a cut route), natscli_test.go (the seed walkthrough with the
// nats binary, each command on another node). R3 buckets (issue 15):
// r3_test.go (linearizability under leader kills and a partition,
// checked with porcupine by the model in linearize_test.go; failover
// time), r3lock_test.go (lock safety), r3pause_test.go (a paused
// leader, a minority partition), r3rejoin_test.go (a node back with an
// empty store).
package cluster

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/testserver"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testserver.RemoveBinaries()
	os.Exit(code)
}

// kind names a server implementation and finds its binary.
type kind struct {
	name string
	bin  func(t *testing.T) string
}

var kinds = []kind{
	{"cairn", func(t *testing.T) string { return testserver.CairnBinary(t) }},
	{"nats-server", func(t *testing.T) string {
		// As testserver.StartPeer: a missing peer fails the test (a
		// skipped comparison would hide a missing install step).
		bin := testserver.PeerPath()
		if bin == "" {
			t.Fatal("nats-server is not installed: run scripts/install-tools (or set CAIRN_PEER_SERVER)")
		}
		return bin
	}},
}

// onBoth runs f as a subtest against each kind of cluster.
func onBoth(t *testing.T, f func(t *testing.T, k kind)) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) { f(t, k) })
	}
}

// handedOut holds the ports freePort returned, so that two parallel
// tests never pick the same one before either listens on it.
var handedOut struct {
	mu    sync.Mutex
	ports map[int]bool
}

// freePort returns a loopback TCP port that was free a moment ago. It
// picks below the kernel's ephemeral range (read from
// /proc/sys/net/ipv4/ip_local_port_range, 32768 if unknown): a port from
// that range could meanwhile become the source port of a node's route
// dial, and the node owning it would then fail to listen ("address
// already in use"), which made formation flaky.
func freePort(t *testing.T) int {
	t.Helper()
	handedOut.mu.Lock()
	defer handedOut.mu.Unlock()
	if handedOut.ports == nil {
		handedOut.ports = map[int]bool{}
	}
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 12000 {
				low = n
			}
		}
	}
	for range 1000 {
		port := 10000 + rand.IntN(low-10000)
		if handedOut.ports[port] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ln.Close()
		handedOut.ports[port] = true
		return port
	}
	t.Fatal("no free loopback port below the ephemeral range")
	return 0
}

// node is one server process with fixed client and route ports, so that
// it can be restarted where it was.
type node struct {
	name       string
	bin        string
	clientPort int
	routePort  int
	routes     []string // seed route URLs
	dir        string
	// js turns JetStream on for nats-server ("-js"); cairn-server has
	// it whenever it has a store directory.
	js bool
	// monitorPort, when not 0, is the HTTP monitoring port ("-m").
	monitorPort int
	// advertise, when set, is the route address given to other nodes
	// ("--cluster_advertise host:port").
	advertise string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	logs *syncBuffer // the current process's output
}

// URL is the node's client URL.
func (n *node) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.clientPort) }

// routeURL is the node's route listener URL.
func (n *node) routeURL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.routePort) }

// syncBuffer is a bytes.Buffer safe for the process's writes and the
// test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs the node's process and waits (bounded) until its client
// port accepts connections.
func (n *node) start(t *testing.T) {
	t.Helper()
	args := []string{"-a", "127.0.0.1", "-p", fmt.Sprint(n.clientPort),
		"--cluster", n.routeURL(), "--cluster_name", "c1",
		"--server_name", n.name}
	if len(n.routes) > 0 {
		args = append(args, "--routes", strings.Join(n.routes, ","))
	}
	if n.monitorPort != 0 {
		args = append(args, "-m", fmt.Sprint(n.monitorPort))
	}
	if n.advertise != "" {
		args = append(args, "--cluster_advertise", n.advertise)
	}
	switch {
	case strings.Contains(n.bin, "cairn"):
		args = append(args, "-sd", n.dir)
	case n.js:
		args = append(args, "-js", "-sd", n.dir)
	}
	cmd := exec.Command(n.bin, args...)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", n.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	n.mu.Lock()
	n.cmd, n.done, n.logs = cmd, done, logs
	n.mu.Unlock()
	t.Cleanup(func() {
		n.kill()
		if t.Failed() {
			t.Logf("%s (pid %d) log:\n%s", n.name, cmd.Process.Pid, tail(logs.String(), 20))
		}
	})
	waitFor(t, 15*time.Second, n.name+" listening", func() bool {
		select {
		case <-done:
			t.Fatalf("%s exited:\n%s", n.name, logs.String())
		default:
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", n.clientPort), time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// log returns what the node's current process has written so far.
func (n *node) log() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.logs == nil {
		return ""
	}
	return n.logs.String()
}

// kill sends SIGKILL to the node's process by its PID and reaps it.
func (n *node) kill() {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// waitFor polls cond every 10 ms until it holds, failing t after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startCluster starts n nodes n1..n<n> of kind k, each given every
// node's route URL as --routes (as examples/cluster.sh does), and
// returns once each node's INFO lists every node's client URL. With js,
// nats-server runs with JetStream ("-js"); cairn-server always has it.
func startCluster(t *testing.T, k kind, n int, js bool) []*node {
	t.Helper()
	bin := k.bin(t)
	nodes := make([]*node, n)
	var routes []string
	for i := range nodes {
		nodes[i] = &node{name: fmt.Sprintf("n%d", i+1), bin: bin, clientPort: freePort(t), routePort: freePort(t), dir: t.TempDir(), js: js}
		if js {
			nodes[i].monitorPort = freePort(t)
		}
		routes = append(routes, nodes[i].routeURL())
	}
	start := time.Now()
	for _, n := range nodes {
		n.routes = routes
		n.start(t)
	}
	for _, n := range nodes {
		waitFormed(t, n, nodes)
	}
	t.Logf("%s cluster formed in %v", k.name, time.Since(start).Round(time.Millisecond))
	return nodes
}

// clientInfo dials a node's client port and returns the connect_urls of
// the INFO it sends first.
func clientInfo(addr string) ([]string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
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

// waitFormed waits until n's INFO lists the client URLs of all nodes.
func waitFormed(t *testing.T, n *node, nodes []*node) {
	t.Helper()
	var want []string
	for _, o := range nodes {
		want = append(want, fmt.Sprintf("127.0.0.1:%d", o.clientPort))
	}
	sort.Strings(want)
	var got []string
	deadline := time.Now().Add(15 * time.Second)
	for {
		urls, err := clientInfo(fmt.Sprintf("127.0.0.1:%d", n.clientPort))
		if err == nil {
			got = append([]string(nil), urls...)
			sort.Strings(got)
			if slices.Equal(got, want) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: connect_urls %v, want %v (err %v)", n.name, got, want, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pid returns the process id of the node's current process.
func (n *node) pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd.Process.Pid
}
