package cluster

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/cairn-db/cairn/internal/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// logBuf collects a node's log for assertions.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type node struct {
	srv *server.Server
	cl  *Cluster
	log *logBuf
}

// startNode starts a server and its cluster on loopback; port 0 picks
// a free cluster port. Both stop when the test ends (or at close).
func startNode(t testing.TB, opts Options, port int, routes ...string) *node {
	t.Helper()
	return startNodeWith(t, server.Options{}, nil, opts, port, routes...)
}

// startNodeWith is startNode with server options (host, port, name and
// logger are set here) and a function run between the server's start
// and the cluster's (nil for none).
func startNodeWith(t testing.TB, sopts server.Options, before func(*server.Server), opts Options, port int, routes ...string) *node {
	t.Helper()
	lb := &logBuf{}
	sopts.Host, sopts.Port, sopts.Name, sopts.Logger = "127.0.0.1", -1, opts.ServerName, server.NewLogger(lb, false, false)
	srv, err := server.New(sopts)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(srv)
	}
	opts.Host, opts.Port = "127.0.0.1", port
	if opts.Name == "" {
		opts.Name = "c1"
	}
	if opts.PingInterval == 0 {
		opts.PingInterval = 200 * time.Millisecond
	}
	for _, r := range routes {
		u, err := url.Parse("nats://" + r)
		if err != nil {
			t.Fatal(err)
		}
		opts.Routes = append(opts.Routes, u)
	}
	cl, err := Start(srv, opts)
	if err != nil {
		srv.Shutdown()
		t.Fatal(err)
	}
	n := &node{srv: srv, cl: cl, log: lb}
	t.Cleanup(n.close)
	return n
}

func (n *node) close() {
	n.cl.Close()
	n.srv.Shutdown()
}

func (n *node) addr() string { return n.cl.Addr().String() }

func (n *node) connect(t testing.TB) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(n.srv.ClientURL(), nats.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func peerNames(n *node) string {
	var names []string
	for _, p := range n.cl.Peers() {
		names = append(names, p.Name)
	}
	return strings.Join(sorted(names), ",")
}

func sorted(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

// hasRemoteInterest reports whether n sees interest in subj from the
// peer called peer.
func hasRemoteInterest(n *node, peer, subj string) bool {
	for _, r := range *n.cl.routes.Load() {
		if r.peer.Name == peer {
			m := r.match(server.GlobalAccount, []byte(subj))
			return m != nil && !m.Empty()
		}
	}
	return false
}

// three starts n1, n2 (routes to n1) and n3 (routes to n2 only), and
// waits for the full mesh: n3 learns n1 through n2.
func three(t *testing.T) (n1, n2, n3 *node) {
	n1 = startNode(t, Options{ServerName: "n1"}, 0)
	n2 = startNode(t, Options{ServerName: "n2"}, 0, n1.addr())
	n3 = startNode(t, Options{ServerName: "n3"}, 0, n2.addr())
	waitFor(t, "full mesh", func() bool {
		return peerNames(n1) == "n2,n3" && peerNames(n2) == "n1,n3" && peerNames(n3) == "n1,n2"
	})
	return n1, n2, n3
}

func TestFormation(t *testing.T) {
	n1, _, n3 := three(t)
	for _, p := range n3.cl.Peers() {
		if p.ClientURL == "" || p.ID == "" || p.RouteURL == "" {
			t.Fatalf("incomplete peer info %+v", p)
		}
	}
	if got := n1.cl.Peers(); len(got) != 2 {
		t.Fatalf("n1 peers = %+v", got)
	}
}

func TestRefusedPeers(t *testing.T) {
	n1 := startNode(t, Options{ServerName: "n1", User: "ru", Password: "rp"}, 0)
	startNode(t, Options{ServerName: "x1", Name: "other", User: "ru", Password: "rp"}, 0, n1.addr())
	startNode(t, Options{ServerName: "n1", User: "ru", Password: "rp"}, 0, n1.addr())
	startNode(t, Options{ServerName: "x3", User: "ru", Password: "bad"}, 0, n1.addr())
	for _, want := range []string{`cluster name "other" is not ours`, `duplicate server name "n1"`, "authorization violation"} {
		waitFor(t, "log line "+want, func() bool { return strings.Contains(n1.log.String(), want) })
	}
	if p := n1.cl.Peers(); len(p) != 0 {
		t.Fatalf("refused peers connected: %+v", p)
	}
	good := startNode(t, Options{ServerName: "n2", User: "ru", Password: "rp"}, 0, n1.addr())
	waitFor(t, "good peer", func() bool { return peerNames(n1) == "n2" && peerNames(good) == "n1" })
	// A second node named as a connected peer is refused too.
	startNode(t, Options{ServerName: "n2", User: "ru", Password: "rp"}, 0, n1.addr())
	waitFor(t, "second n2 refused", func() bool { return strings.Contains(n1.log.String(), `duplicate server name "n2" (server ids`) })
	if got := peerNames(n1); got != "n2" {
		t.Fatalf("n1 peers %q", got)
	}
	// Credentials in the route URL are used for that route.
	startNode(t, Options{ServerName: "n3"}, 0, "ru:rp@"+n1.addr())
	waitFor(t, "peer with URL credentials", func() bool { return peerNames(n1) == "n2,n3" })
}

func TestCrossNodePubSub(t *testing.T) {
	n1, _, n3 := three(t)
	pub, sub := n1.connect(t), n3.connect(t)
	ch := make(chan *nats.Msg, 100)
	s1, err := sub.ChanSubscribe("orders.>", ch)
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "interest on n1", func() bool { return hasRemoteInterest(n1, "n3", "orders.1") })
	if hasRemoteInterest(n1, "n2", "orders.1") {
		t.Fatal("n2 has interest it never had")
	}
	for i := range 50 {
		if err := pub.Publish(fmt.Sprintf("orders.%d", i), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		_ = pub.Publish("other.subject", nil) // no interest: not forwarded
	}
	for i := range 50 {
		select {
		case m := <-ch:
			if string(m.Data) != fmt.Sprint(i) || m.Subject != fmt.Sprintf("orders.%d", i) {
				t.Fatalf("message %d: %s %q (order broken)", i, m.Subject, m.Data)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("message %d not received", i)
		}
	}
	// The last local subscription gone, the peers forget the interest.
	if err := s1.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "interest removed", func() bool { return !hasRemoteInterest(n1, "n3", "orders.1") })
}

func TestQueueGroupExactlyOnce(t *testing.T) {
	n1, n2, n3 := three(t)
	var mu sync.Mutex
	got := map[string]int{}
	perNode := map[string]int{}
	member := func(n *node, name string) *nats.Subscription {
		nc := n.connect(t)
		s, err := nc.QueueSubscribe("work", "q", func(m *nats.Msg) {
			mu.Lock()
			got[string(m.Data)]++
			perNode[name]++
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		return s
	}
	member(n2, "n2")
	member(n3, "n3")
	waitFor(t, "queue interest", func() bool {
		return hasRemoteInterest(n1, "n2", "work") && hasRemoteInterest(n1, "n3", "work")
	})
	pub := n1.connect(t)
	const total = 200
	for i := range total {
		_ = pub.Publish("work", []byte(fmt.Sprint(i)))
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, c := range got {
			n += c
		}
		return n
	}
	waitFor(t, "all queued messages", func() bool { return count() >= total })
	// A local member takes everything published on its node.
	local := member(n1, "n1")
	waitFor(t, "n1 member", func() bool { return n1.srv.HasInterest("work") })
	for i := range total {
		_ = pub.Publish("work", []byte(fmt.Sprint(total+i)))
	}
	waitFor(t, "local delivery", func() bool { return count() >= 2*total })
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	_ = local
	mu.Lock()
	defer mu.Unlock()
	for k, c := range got {
		if c != 1 {
			t.Fatalf("message %s delivered %d times", k, c)
		}
	}
	if len(got) != 2*total || perNode["n1"] != total || perNode["n2"] == 0 || perNode["n3"] == 0 {
		t.Fatalf("got %d distinct, per node %v", len(got), perNode)
	}
}

func TestRequestReplyAndNoResponders(t *testing.T) {
	n1, n2, n3 := three(t)
	req := n1.connect(t)
	if _, err := req.Request("nobody.home", nil, 2*time.Second); err != nats.ErrNoResponders {
		t.Fatalf("request with no interest anywhere: %v, want no responders", err)
	}
	resp := n3.connect(t)
	if _, err := resp.Subscribe("svc.echo", func(m *nats.Msg) { _ = m.Respond(append([]byte("echo "), m.Data...)) }); err != nil {
		t.Fatal(err)
	}
	if err := resp.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "service interest", func() bool {
		return hasRemoteInterest(n1, "n3", "svc.echo") && hasRemoteInterest(n2, "n3", "svc.echo")
	})
	for _, n := range []*node{n1, n2} {
		m, err := n.connect(t).Request("svc.echo", []byte("hi"), 5*time.Second)
		if err != nil || string(m.Data) != "echo hi" {
			t.Fatalf("request across nodes: %v %v", m, err)
		}
	}
}

func TestNodeRestart(t *testing.T) {
	n1, n2, n3 := three(t)
	sub := n3.connect(t)
	ch := make(chan *nats.Msg, 10)
	if _, err := sub.ChanSubscribe("events.*", ch); err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	port := n2.cl.Addr().(*net.TCPAddr).Port
	n2.close()
	waitFor(t, "n2 gone", func() bool { return peerNames(n1) == "n3" && peerNames(n3) == "n1" })
	n2 = startNode(t, Options{ServerName: "n2"}, port, n1.addr())
	waitFor(t, "mesh again", func() bool {
		return peerNames(n1) == "n2,n3" && peerNames(n2) == "n1,n3" && peerNames(n3) == "n1,n2"
	})
	waitFor(t, "interest restored", func() bool { return hasRemoteInterest(n2, "n3", "events.x") })
	if err := n2.connect(t).Publish("events.x", []byte("after restart")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-ch:
		if string(m.Data) != "after restart" {
			t.Fatalf("got %q", m.Data)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no message after restart")
	}
}
