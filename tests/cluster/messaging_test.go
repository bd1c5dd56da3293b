package cluster

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// connect connects nats.go to url and closes the connection at cleanup.
func connect(t *testing.T, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, append([]nats.Option{nats.Timeout(5 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// awaitInterest publishes probe messages on subject from pub until each
// of subs has received one (interest crosses routes asynchronously), and
// fails t after a bounded wait. Probes carry the payload "probe".
func awaitInterest(t *testing.T, pub *nats.Conn, subject string, subs ...*nats.Subscription) {
	t.Helper()
	seen := make([]bool, len(subs))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := pub.Publish(subject, []byte("probe")); err != nil {
			t.Fatal(err)
		}
		for i, s := range subs {
			for !seen[i] {
				m, err := s.NextMsg(20 * time.Millisecond)
				if err != nil {
					break
				}
				seen[i] = string(m.Data) == "probe"
			}
		}
		if !slices.Contains(seen, false) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("interest in %s never reached the publisher's node (seen %v)", subject, seen)
		}
	}
}

// next returns the next message on s that is not a probe.
func next(t *testing.T, s *nats.Subscription) *nats.Msg {
	t.Helper()
	for {
		m, err := s.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("%s: %v", s.Subject, err)
		}
		if string(m.Data) != "probe" {
			return m
		}
	}
}

// TestCluster is the differential table: each scenario against a
// three-node cairn cluster and a three-node nats-server cluster.
func TestCluster(t *testing.T) {
	t.Parallel()
	onBoth(t, func(t *testing.T, k kind) {
		t.Parallel()
		nodes := startCluster(t, k, 3, false)
		for _, sc := range []struct {
			name string
			run  func(t *testing.T, nodes []*node)
		}{
			{"Discovery", testDiscovery},
			{"CrossNodeOrdered", testCrossNodeOrdered},
			{"Wildcards", testWildcards},
			{"QueueGroup", testQueueGroup},
			{"RequestReply", testRequestReply},
			{"NoResponders", testNoResponders},
		} {
			t.Run(sc.name, func(t *testing.T) { sc.run(t, nodes) })
		}
	})
}

// testDiscovery: nats.go given n1's URL alone learns n2 and n3.
func testDiscovery(t *testing.T, nodes []*node) {
	nc := connect(t, nodes[0].URL())
	want := []string{nodes[1].URL(), nodes[2].URL()}
	sort.Strings(want)
	var got []string
	waitFor(t, 10*time.Second, "DiscoveredServers", func() bool {
		got = nc.DiscoveredServers()
		sort.Strings(got)
		return slices.Equal(got, want)
	})
}

// testCrossNodeOrdered: a subscriber on n1 receives what a publisher on
// n3 sends, in order.
func testCrossNodeOrdered(t *testing.T, nodes []*node) {
	sub := connect(t, nodes[0].URL())
	pub := connect(t, nodes[2].URL())
	s, err := sub.SubscribeSync("ordered")
	if err != nil {
		t.Fatal(err)
	}
	awaitInterest(t, pub, "ordered", s)
	const n = 500
	for i := range n {
		if err := pub.Publish("ordered", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if got := string(next(t, s).Data); got != fmt.Sprint(i) {
			t.Fatalf("message %d: got %q", i, got)
		}
	}
}

// testWildcards: "w.>" on n1 and "w.*.x" on n2 receive what matches
// from a publisher on n3, and nothing else.
func testWildcards(t *testing.T, nodes []*node) {
	c1, c2 := connect(t, nodes[0].URL()), connect(t, nodes[1].URL())
	pub := connect(t, nodes[2].URL())
	full, err := c1.SubscribeSync("w.>")
	if err != nil {
		t.Fatal(err)
	}
	star, err := c2.SubscribeSync("w.*.x")
	if err != nil {
		t.Fatal(err)
	}
	awaitInterest(t, pub, "w.probe.x", full, star)
	for _, subj := range []string{"w.a.x", "w.b.y", "v.a.x", "w.c.d.x", "w", "w.e.x", "w.end.x"} {
		if err := pub.Publish(subj, []byte(subj)); err != nil {
			t.Fatal(err)
		}
	}
	collect := func(s *nats.Subscription) []string {
		var got []string
		for {
			m := next(t, s)
			got = append(got, m.Subject)
			if m.Subject == "w.end.x" {
				return got
			}
		}
	}
	if got, want := collect(full), []string{"w.a.x", "w.b.y", "w.c.d.x", "w.e.x", "w.end.x"}; !slices.Equal(got, want) {
		t.Errorf("w.> got %v, want %v", got, want)
	}
	if got, want := collect(star), []string{"w.a.x", "w.e.x", "w.end.x"}; !slices.Equal(got, want) {
		t.Errorf("w.*.x got %v, want %v", got, want)
	}
}

// testQueueGroup: a queue group with one member on each node receives
// each of n messages exactly once in total, whichever node publishes.
func testQueueGroup(t *testing.T, nodes []*node) {
	var subs []*nats.Subscription
	var conns []*nats.Conn
	for _, n := range nodes {
		nc := connect(t, n.URL())
		s, err := nc.QueueSubscribeSync("q", "workers")
		if err != nil {
			t.Fatal(err)
		}
		subs, conns = append(subs, s), append(conns, nc)
	}
	// Each node has a local member, which both implementations prefer,
	// so no wait for interest is needed; the check is on the total.
	for _, nc := range conns {
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	const perNode = 100
	total := 0
	for ni, n := range nodes {
		pub := connect(t, n.URL())
		for i := range perNode {
			if err := pub.Publish("q", []byte(fmt.Sprintf("%d-%d", ni, i))); err != nil {
				t.Fatal(err)
			}
		}
		if err := pub.Flush(); err != nil {
			t.Fatal(err)
		}
		total += perNode
	}
	seen := map[string]int{}
	deadline := time.Now().Add(10 * time.Second)
	for len(seen) < total && time.Now().Before(deadline) {
		for _, s := range subs {
			for {
				m, err := s.NextMsg(5 * time.Millisecond)
				if err != nil {
					break
				}
				seen[string(m.Data)]++
			}
		}
	}
	if len(seen) != total {
		t.Fatalf("received %d distinct messages, want %d", len(seen), total)
	}
	// A duplicate would be in flight at most one round trip behind.
	for _, nc := range conns {
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range subs {
		for {
			m, err := s.NextMsg(20 * time.Millisecond)
			if err != nil {
				break
			}
			seen[string(m.Data)]++
		}
	}
	for d, c := range seen {
		if c != 1 {
			t.Errorf("message %s delivered %d times", d, c)
		}
	}
}

// testRequestReply: a responder on n2 answers a requester on n3.
func testRequestReply(t *testing.T, nodes []*node) {
	resp := connect(t, nodes[1].URL())
	req := connect(t, nodes[2].URL())
	if _, err := resp.Subscribe("svc.echo", func(m *nats.Msg) { _ = m.Respond(append([]byte("re:"), m.Data...)) }); err != nil {
		t.Fatal(err)
	}
	if err := resp.Flush(); err != nil {
		t.Fatal(err)
	}
	var reply *nats.Msg
	waitFor(t, 10*time.Second, "a reply from another node", func() bool {
		m, err := req.Request("svc.echo", []byte("hi"), 500*time.Millisecond)
		reply = m
		return err == nil
	})
	if string(reply.Data) != "re:hi" {
		t.Fatalf("reply %q", reply.Data)
	}
	for i := range 50 {
		m, err := req.Request("svc.echo", []byte(fmt.Sprint(i)), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Data) != "re:"+fmt.Sprint(i) {
			t.Fatalf("reply %q to %d", m.Data, i)
		}
	}
}

// testNoResponders: a request nobody anywhere listens to fails at once
// with no responders, from every node.
func testNoResponders(t *testing.T, nodes []*node) {
	for _, n := range nodes {
		nc := connect(t, n.URL())
		start := time.Now()
		_, err := nc.Request("nobody.listens."+strings.ToLower(n.name), nil, 5*time.Second)
		if !errors.Is(err, nats.ErrNoResponders) {
			t.Fatalf("%s: %v, want no responders", n.name, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("%s: no responders took %v", n.name, d)
		}
	}
}
