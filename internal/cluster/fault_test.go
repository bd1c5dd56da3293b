package cluster

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cairn-db/cairn/internal/server"
	"github.com/cairn-db/cairn/internal/testcert"
)

// fakePeer completes a handshake with n as a peer named name, then
// sends extra (e.g. interest) and does nothing else: it neither reads
// nor answers PINGs.
func fakePeer(t *testing.T, n *node, name, extra string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", n.addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	js, _ := json.Marshal(info{Cluster: "c1", Name: name, ID: "FAKE" + name, RouteURL: "127.0.0.1:1"})
	if _, err := conn.Write([]byte("INFO " + string(js) + "\r\n" + extra)); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "INFO ") {
		t.Fatalf("handshake answer %q, %v", line, err)
	}
	waitFor(t, "fake peer registered", func() bool { return strings.Contains(peerNames(n), name) })
	return conn
}

func TestStaleRouteCut(t *testing.T) {
	n1 := startNode(t, Options{ServerName: "n1", PingInterval: 20 * time.Millisecond}, 0)
	fakePeer(t, n1, "mute", "")
	waitFor(t, "stale route cut", func() bool {
		return peerNames(n1) == "" && strings.Contains(n1.log.String(), "Stale route to mute")
	})
}

func TestSlowRouteCutWithoutBlockingClients(t *testing.T) {
	n1 := startNode(t, Options{ServerName: "n1", MaxPending: 256 << 10, PingInterval: time.Hour}, 0)
	fakePeer(t, n1, "slow", "RS+ $G >\r\n")
	waitFor(t, "interest from slow peer", func() bool { return hasRemoteInterest(n1, "slow", "x") })
	nc := n1.connect(t)
	payload := make([]byte, 64<<10)
	// Socket buffers absorb some megabytes; 64 MiB cannot fit.
	for i := 0; i < 1024 && peerNames(n1) != ""; i++ {
		if err := nc.Publish("x", payload); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		t.Fatalf("publisher blocked: %v", err)
	}
	waitFor(t, "slow route cut", func() bool {
		return peerNames(n1) == "" && strings.Contains(n1.log.String(), "Slow route to slow")
	})
}

// TestSlowReaderStallsPublishersNotCut: a peer that reads, but more
// slowly than a client publishes to it, holds the publisher back (its
// publishes wait while the route is backed up) instead of having its
// route cut as slow: every byte reaches it and the route stays up. (A
// stream's leader under a flood forwarded by a follower lost its route,
// and the Raft traffic on it, so.)
func TestSlowReaderStallsPublishersNotCut(t *testing.T) {
	n1 := startNode(t, Options{ServerName: "n1", MaxPending: 1 << 20, PingInterval: time.Hour}, 0)
	conn := fakePeer(t, n1, "slow", "RS+ $G >\r\n")
	waitFor(t, "interest from slow peer", func() bool { return hasRemoteInterest(n1, "slow", "x") })
	var read atomic.Int64
	go func() {
		// About 6 MB/s: 64 KiB every 10 ms.
		buf := make([]byte, 64<<10)
		for {
			n, err := conn.Read(buf)
			read.Add(int64(n))
			if err != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	nc := n1.connect(t)
	payload := make([]byte, 64<<10)
	const msgs = 160 // 10 MiB, ten times MaxPending
	for range msgs {
		if err := nc.Publish("x", payload); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.FlushTimeout(20 * time.Second); err != nil {
		t.Fatalf("publisher: %v", err)
	}
	waitFor(t, "every message read by the slow peer", func() bool { return read.Load() >= msgs*int64(len(payload)) })
	if peerNames(n1) != "slow" || strings.Contains(n1.log.String(), "Slow route") {
		t.Fatalf("route cut: peers %q, log %s", peerNames(n1), n1.log.String())
	}
}

// TestRoutedMessagesSkipNodeLocalServices: a routed message reaches
// the clients of the peer, never its node-local in-process services
// (SubscribeLocal).
func TestRoutedMessagesSkipNodeLocalServices(t *testing.T) {
	n1 := startNode(t, Options{ServerName: "n1"}, 0)
	n2 := startNode(t, Options{ServerName: "n2"}, 0, n1.addr())
	waitFor(t, "pair", func() bool { return peerNames(n1) == "n2" })
	var handled atomic.Int32
	sub, err := n2.srv.Account(server.GlobalAccount).SubscribeLocal("svc.>", "", func(*server.Msg) { handled.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	watcher := n2.connect(t)
	ch := make(chan *nats.Msg, 1)
	if _, err := watcher.ChanSubscribe(">", ch); err != nil {
		t.Fatal(err)
	}
	if err := watcher.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "interest", func() bool { return hasRemoteInterest(n1, "n2", "svc.a") })
	if err := n1.connect(t).Publish("svc.a", []byte("x")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("client subscription on n2 got nothing")
	}
	if handled.Load() != 0 {
		t.Fatal("a routed message reached an in-process service")
	}
}

// freePorts reserves n loopback ports and frees them for the test.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	handedOut.mu.Lock()
	defer handedOut.mu.Unlock()
	if handedOut.ports == nil {
		handedOut.ports = map[int]bool{}
	}
	// Below the kernel's ephemeral range: a port from that range could
	// become the source port of a node's route dial before the node
	// that owns it listens ("address already in use").
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil && v > 11000 {
				low = v
			}
		}
	}
	var ports []int
	for tries := 0; len(ports) < n && tries < 10000; tries++ {
		p := 10000 + rand.IntN(low-10000)
		if handedOut.ports[p] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		ln.Close()
		handedOut.ports[p] = true
		ports = append(ports, p)
	}
	if len(ports) < n {
		t.Fatal("no free loopback ports below the ephemeral range")
	}
	return ports
}

// handedOut holds the ports freePorts returned, so that two tests never
// pick the same one before either listens on it.
var handedOut struct {
	mu    sync.Mutex
	ports map[int]bool
}

// TestSameRoutesEverywhere gives every node the same route list, its
// own address included, as a config file shared by all nodes does:
// each pair must end with one route, and messages arrive once.
func TestSameRoutesEverywhere(t *testing.T) {
	ports := freePorts(t, 3)
	var all []string
	for _, p := range ports {
		all = append(all, net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	}
	var nodes []*node
	for i, p := range ports {
		nodes = append(nodes, startNode(t, Options{ServerName: "n" + strconv.Itoa(i+1)}, p, all...))
	}
	waitFor(t, "full mesh", func() bool {
		return peerNames(nodes[0]) == "n2,n3" && peerNames(nodes[1]) == "n1,n3" && peerNames(nodes[2]) == "n1,n2"
	})
	established := func() int {
		n := 0
		for _, nd := range nodes {
			n += strings.Count(nd.log.String(), "established")
		}
		return n
	}
	before := established()
	sub := nodes[2].connect(t)
	ch := make(chan *nats.Msg, 100)
	if _, err := sub.ChanSubscribe("t", ch); err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "interest", func() bool { return hasRemoteInterest(nodes[0], "n3", "t") })
	pub := nodes[0].connect(t)
	for range 10 {
		_ = pub.Publish("t", nil)
	}
	// A request round trip after the publishes: the subscriber has
	// everything once the reply arrives (one route, in order).
	if _, err := sub.Subscribe("ping", func(m *nats.Msg) { _ = m.Respond(nil) }); err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ping interest", func() bool { return hasRemoteInterest(nodes[0], "n3", "ping") })
	if _, err := pub.Request("ping", nil, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ten messages", func() bool { return len(ch) >= 10 })
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(ch) != 10 {
		t.Fatalf("got %d messages, want 10", len(ch))
	}
	if after := established(); after != before {
		t.Fatalf("routes churned: %d established before, %d after", before, after)
	}
	// Restarting a node re-forms its routes from both sides.
	nodes[0].close()
	waitFor(t, "n1 gone", func() bool { return peerNames(nodes[1]) == "n3" })
	nodes[0] = startNode(t, Options{ServerName: "n1"}, ports[0], all...)
	waitFor(t, "mesh again", func() bool {
		return peerNames(nodes[0]) == "n2,n3" && peerNames(nodes[1]) == "n1,n3" && peerNames(nodes[2]) == "n1,n2"
	})
}

// tlsConfig is one configuration for both sides of a route: a leaf for
// 127.0.0.1 signed by ca, which both sides verify.
func tlsConfig(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey) *tls.Config {
	leaf, key := testcert.New(t, "route", ca, caKey, false)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}
}

func TestTLSRoutes(t *testing.T) {
	ca, caKey := testcert.New(t, "ca", nil, nil, true)
	conf := tlsConfig(t, ca, caKey)
	n1 := startNode(t, Options{ServerName: "n1", TLS: conf}, 0)
	n2 := startNode(t, Options{ServerName: "n2", TLS: conf}, 0, n1.addr())
	waitFor(t, "TLS route", func() bool { return peerNames(n1) == "n2" && peerNames(n2) == "n1" })
	// A node whose certificate another CA signed is not accepted.
	other, otherKey := testcert.New(t, "other-ca", nil, nil, true)
	startNode(t, Options{ServerName: "n3", TLS: tlsConfig(t, other, otherKey)}, 0, n1.addr())
	waitFor(t, "n1 log of the refused handshake", func() bool { return strings.Contains(n1.log.String(), "certificate") })
	if got := peerNames(n1); got != "n2" {
		t.Fatalf("n1 peers %q", got)
	}
}
