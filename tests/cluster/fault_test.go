package cluster

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestKillRestart: a node killed with SIGKILL and restarted on the same
// ports. A client of it that knows the other nodes fails over to one
// and keeps receiving; a client that knows only it comes back to it;
// cross-node delivery to and from the restarted node works again within
// a bounded time.
func TestKillRestart(t *testing.T) {
	t.Parallel()
	onBoth(t, func(t *testing.T, k kind) {
		t.Parallel()
		nodes := startCluster(t, k, 3, false)
		n1, n3 := nodes[0], nodes[2]
		fast := []nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(50 * time.Millisecond), nats.ReconnectJitter(0, 0)}

		roamer := connect(t, n3.URL(), fast...)
		waitFor(t, 10*time.Second, "roamer discovers the cluster", func() bool { return len(roamer.DiscoveredServers()) == 2 })
		loyal := connect(t, n3.URL(), append(fast, nats.IgnoreDiscoveredServers())...)
		roamSub, err := roamer.SubscribeSync("roam")
		if err != nil {
			t.Fatal(err)
		}
		loyalSub, err := loyal.SubscribeSync("loyal")
		if err != nil {
			t.Fatal(err)
		}
		pub := connect(t, n1.URL())
		awaitInterest(t, pub, "roam", roamSub)
		awaitInterest(t, pub, "loyal", loyalSub)

		n3.kill()
		waitFor(t, 10*time.Second, "roamer fails over", func() bool {
			return roamer.IsConnected() && roamer.ConnectedUrl() != n3.URL()
		})
		awaitInterest(t, pub, "roam", roamSub)

		n3.start(t)
		for _, n := range nodes {
			waitFormed(t, n, nodes)
		}
		waitFor(t, 10*time.Second, "loyal client comes back", loyal.IsConnected)
		awaitInterest(t, pub, "loyal", loyalSub)

		// From the restarted node to a subscriber elsewhere, in order.
		fresh := connect(t, n3.URL())
		s, err := connect(t, n1.URL()).SubscribeSync("back")
		if err != nil {
			t.Fatal(err)
		}
		awaitInterest(t, fresh, "back", s)
		for i := range 100 {
			if err := fresh.Publish("back", []byte(fmt.Sprint(i))); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 100 {
			if got := string(next(t, s).Data); got != fmt.Sprint(i) {
				t.Fatalf("message %d: got %q", i, got)
			}
		}
	})
}

// proxy forwards TCP connections from a loopback listener to target;
// cut closes every connection it carries (new ones are still accepted);
// while refusing, it closes each new connection at once.
type proxy struct {
	ln       net.Listener
	target   string
	refusing atomic.Bool

	mu    sync.Mutex
	conns []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.refusing.Load() {
				c.Close()
				continue
			}
			u, err := net.DialTimeout("tcp", target, time.Second)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = io.Copy(u, c); u.Close(); c.Close() }()
			go func() { defer wg.Done(); _, _ = io.Copy(c, u); u.Close(); c.Close() }()
		}
	}()
	return p
}

// URL is the proxy's address as a route URL.
func (p *proxy) URL() string { return "nats://" + p.ln.Addr().String() }

// cut closes every connection through the proxy and returns how many
// pairs it closed.
func (p *proxy) cut() int {
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	return len(conns) / 2
}

// TestRouteCut: two nodes whose only route goes n2 → proxy → n1. The
// proxy cuts the route; messages flow both ways again once n2 has
// redialed (bounded wait).
func TestRouteCut(t *testing.T) {
	t.Parallel()
	onBoth(t, func(t *testing.T, k kind) {
		t.Parallel()
		bin := k.bin(t)
		n1 := &node{name: "n1", bin: bin, clientPort: freePort(t), routePort: freePort(t), dir: t.TempDir()}
		px := startProxy(t, fmt.Sprintf("127.0.0.1:%d", n1.routePort))
		n2 := &node{name: "n2", bin: bin, clientPort: freePort(t), routePort: freePort(t), dir: t.TempDir(), routes: []string{px.URL()}}
		nodes := []*node{n1, n2}
		n1.start(t)
		n2.start(t)
		for _, n := range nodes {
			waitFormed(t, n, nodes)
		}
		c1, c2 := connect(t, n1.URL()), connect(t, n2.URL())
		s1, err := c1.SubscribeSync("to1")
		if err != nil {
			t.Fatal(err)
		}
		s2, err := c2.SubscribeSync("to2")
		if err != nil {
			t.Fatal(err)
		}
		awaitInterest(t, c2, "to1", s1)
		awaitInterest(t, c1, "to2", s2)

		for round := range 2 {
			if n := px.cut(); n == 0 {
				t.Fatalf("round %d: no route through the proxy to cut", round)
			}
			awaitInterest(t, c2, "to1", s1)
			awaitInterest(t, c1, "to2", s2)
			for _, n := range nodes {
				waitFormed(t, n, nodes)
			}
		}
	})
}
