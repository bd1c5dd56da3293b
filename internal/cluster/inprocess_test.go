package cluster

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cairn-db/cairn/internal/auth"
	"github.com/cairn-db/cairn/internal/server"
)

// pair starts n1 and n2 (routes to n1) and waits for the route.
func pair(t *testing.T) (n1, n2 *node) {
	t.Helper()
	n1 = startNode(t, Options{ServerName: "n1"}, 0)
	n2 = startNode(t, Options{ServerName: "n2"}, 0, n1.addr())
	waitFor(t, "pair", func() bool { return peerNames(n1) == "n2" && peerNames(n2) == "n1" })
	return n1, n2
}

func global(n *node) *server.Account { return n.srv.Account(server.GlobalAccount) }

// recorder collects what an in-process handler got.
type recorder struct {
	mu   sync.Mutex
	msgs []server.Msg
}

func (r *recorder) handle(m *server.Msg) {
	c := *m
	c.Header, c.Data = append([]byte(nil), m.Header...), append([]byte(nil), m.Data...)
	if m.Requester() != nil {
		c.Subject = "requester set on " + c.Subject
	}
	r.mu.Lock()
	r.msgs = append(r.msgs, c)
	r.mu.Unlock()
}

func (r *recorder) got() []server.Msg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]server.Msg(nil), r.msgs...)
}

// TestInProcessSubscriptionsAcrossRoutes: Subscribe is announced
// (also one made before the cluster started) and gets what other
// nodes publish, with FromRoute set and no Requester; SubscribeLocal
// is neither announced nor given routed messages; both get local
// publishes.
func TestInProcessSubscriptionsAcrossRoutes(t *testing.T) {
	var early recorder
	n1 := startNode(t, Options{ServerName: "n1"}, 0)
	n2 := startNodeWith(t, server.Options{}, func(s *server.Server) {
		if _, err := s.Account(server.GlobalAccount).Subscribe("early.>", "", early.handle); err != nil {
			t.Fatal(err)
		}
	}, Options{ServerName: "n2"}, 0, n1.addr())
	waitFor(t, "pair", func() bool { return peerNames(n1) == "n2" })
	var shared, local recorder
	if _, err := global(n2).Subscribe("svc.>", "", shared.handle); err != nil {
		t.Fatal(err)
	}
	lsub, err := global(n2).SubscribeLocal("svc.>", "", local.handle)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := global(n2).SubscribeLocal("local.only", "", local.handle); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "interest on n1", func() bool {
		return hasRemoteInterest(n1, "n2", "svc.a") && hasRemoteInterest(n1, "n2", "early.a")
	})
	if hasRemoteInterest(n1, "n2", "local.only") || global(n1).HasInterest("local.only") {
		t.Fatal("a node-local subscription was announced")
	}
	if !global(n1).HasInterest("svc.a") {
		t.Fatal("HasInterest does not see the peer's interest")
	}
	nc := n1.connect(t)
	if _, err := nc.Request("local.only", nil, 2*time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("request to a peer's node-local service: %v, want no responders", err)
	}
	hdr := nats.Header{"K": []string{"v"}}
	if err := nc.PublishMsg(&nats.Msg{Subject: "svc.a", Reply: "r.1", Header: hdr, Data: []byte("remote")}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("early.a", []byte("early")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "routed messages", func() bool { return len(shared.got()) == 1 && len(early.got()) == 1 })
	m := shared.got()[0]
	if m.Subject != "svc.a" || m.Reply != "r.1" || string(m.Data) != "remote" || !m.FromRoute || !strings.Contains(string(m.Header), "K: v") {
		t.Fatalf("routed message %+v", m)
	}
	global(n2).Publish("svc.b", "", nil, []byte("here"))
	waitFor(t, "local publish", func() bool { return len(shared.got()) == 2 && len(local.got()) == 1 })
	if m := local.got()[0]; m.FromRoute || string(m.Data) != "here" {
		t.Fatalf("local publish %+v", m)
	}
	if m := shared.got()[1]; m.FromRoute {
		t.Fatalf("local publish marked FromRoute: %+v", m)
	}
	// Unsubscribing the last cluster-visible one withdraws the interest.
	lsub.Unsubscribe()
	if !hasRemoteInterest(n1, "n2", "svc.a") {
		t.Fatal("removing a node-local subscription withdrew interest")
	}
}

// TestRequestToRemoteService: a client's request reaches an in-process
// service on another node, whose answer comes back over the route.
func TestRequestToRemoteService(t *testing.T) {
	n1, n2, n3 := three(t)
	acc := global(n3)
	if _, err := acc.Subscribe("echo", "", func(m *server.Msg) {
		acc.Publish(m.Reply, "", nil, append([]byte("echo "), m.Data...))
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "interest", func() bool { return hasRemoteInterest(n1, "n3", "echo") && hasRemoteInterest(n2, "n3", "echo") })
	for _, n := range []*node{n1, n2, n3} {
		m, err := n.connect(t).Request("echo", []byte("hi"), 5*time.Second)
		if err != nil || string(m.Data) != "echo hi" {
			t.Fatalf("request from %s: %v %v", n.cl.name, m, err)
		}
	}
}

// TestInProcessOffReaderInOrder: routed messages reach an in-process
// handler in the order published, on a goroutine other than the
// route's reader: while the handler is blocked, the node's clients
// still get what the route brings.
func TestInProcessOffReaderInOrder(t *testing.T) {
	n1, n2 := pair(t)
	release := make(chan struct{})
	var mu sync.Mutex
	var seen []string
	if _, err := global(n2).Subscribe("ord", "", func(m *server.Msg) {
		<-release
		mu.Lock()
		seen = append(seen, string(m.Data))
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	client := n2.connect(t)
	ch := make(chan *nats.Msg, 1)
	if _, err := client.ChanSubscribe("other", ch); err != nil {
		t.Fatal(err)
	}
	if err := client.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "interest", func() bool { return hasRemoteInterest(n1, "n2", "ord") && hasRemoteInterest(n1, "n2", "other") })
	pub := n1.connect(t)
	const total = 500
	for i := range total {
		if err := pub.Publish("ord", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Publish("other", []byte("while blocked")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("a blocked in-process handler held up the route's client deliveries")
	}
	close(release)
	waitFor(t, "all in-process deliveries", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == total
	})
	for i, s := range seen {
		if s != fmt.Sprint(i) {
			t.Fatalf("delivery %d is %s: order broken", i, s)
		}
	}
}

// TestSlowInProcessWorkerCutsRoute: a burst past a route's in-process
// queue bound that the worker works off within a ping interval only
// slows the route's reader down; a peer that keeps the queue full is
// cut as a slow route, and the route comes back.
func TestSlowInProcessWorkerCutsRoute(t *testing.T) {
	n1 := startNode(t, Options{ServerName: "n1"}, 0)
	n2 := startNode(t, Options{ServerName: "n2", MaxInProcessMsgs: 8}, 0, n1.addr())
	waitFor(t, "pair", func() bool { return peerNames(n1) == "n2" })

	var burst atomic.Int32
	if _, err := global(n2).Subscribe("burst", "", func(*server.Msg) {
		time.Sleep(time.Millisecond) // a handler slower than the route
		burst.Add(1)
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "burst interest", func() bool { return hasRemoteInterest(n1, "n2", "burst") })
	for range 40 {
		global(n1).Publish("burst", "", nil, nil)
	}
	waitFor(t, "the burst", func() bool { return burst.Load() == 40 })
	if strings.Contains(n2.log.String(), "Slow route") || peerNames(n2) != "n1" {
		t.Fatalf("a short burst cut the route:\n%s", n2.log.String())
	}

	release := make(chan struct{})
	var once sync.Once
	defer once.Do(func() { close(release) })
	if _, err := global(n2).Subscribe("slow", "", func(*server.Msg) { <-release }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "interest", func() bool { return hasRemoteInterest(n1, "n2", "slow") })
	pub := n1.connect(t)
	for range 50 {
		_ = pub.Publish("slow", nil)
	}
	waitFor(t, "slow route cut", func() bool { return strings.Contains(n2.log.String(), "Slow route from n1") })
	once.Do(func() { close(release) })
	waitFor(t, "route back", func() bool { return peerNames(n1) == "n2" && hasRemoteInterest(n1, "n2", "slow") })
}

// TestPublishAsAcrossRoutes: a consumer's delivery (PublishAs) reaches
// a subscriber of the deliver subject on another node, shown with the
// stream subject; HasInterest sees that subscriber.
func TestPublishAsAcrossRoutes(t *testing.T) {
	n1, n2 := pair(t)
	client := n2.connect(t)
	ch := make(chan *nats.Msg, 10)
	sub, err := client.ChanSubscribe("deliver.x", ch)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Flush(); err != nil {
		t.Fatal(err)
	}
	acc := global(n1)
	waitFor(t, "remote interest", func() bool { return acc.HasInterest("deliver.x") })
	hdr := []byte("NATS/1.0\r\nNats-Sequence: 7\r\n\r\n")
	acc.PublishAs([]byte("deliver.x"), []byte("$KV.b.k"), []byte("$JS.ACK.b.c.1"), hdr, []byte("value"))
	select {
	case m := <-ch:
		if m.Subject != "$KV.b.k" || m.Reply != "$JS.ACK.b.c.1" || string(m.Data) != "value" || m.Header.Get("Nats-Sequence") != "7" {
			t.Fatalf("got %s %s %q %v", m.Subject, m.Reply, m.Data, m.Header)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("PublishAs did not cross the route")
	}
	// A subscriber of the stream subject itself does not get it.
	other := make(chan *nats.Msg, 1)
	if _, err := client.ChanSubscribe("$KV.b.>", other); err != nil {
		t.Fatal(err)
	}
	if err := client.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "remote interest", func() bool { return acc.HasInterest("$KV.b.k") })
	acc.PublishAs([]byte("deliver.x"), []byte("$KV.b.k"), nil, nil, []byte("2"))
	if m := <-ch; string(m.Data) != "2" {
		t.Fatalf("got %q", m.Data)
	}
	select {
	case m := <-other:
		t.Fatalf("a subscriber of the shown subject got %s", m.Subject)
	case <-time.After(100 * time.Millisecond):
	}
	if err := sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "interest gone", func() bool { return !acc.HasInterest("deliver.x") })
}

// TestSendTo: RFWD reaches the named peer's node-local subscriptions
// only, in order with routed messages, and its answer comes back.
func TestSendTo(t *testing.T) {
	n1, n2, n3 := three(t)
	var local, shared, other recorder
	acc2 := global(n2)
	if _, err := acc2.SubscribeLocal("api.>", "", func(m *server.Msg) {
		local.handle(m)
		if m.Reply != "" {
			acc2.Publish(m.Reply, "", nil, []byte("answer from n2"))
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := acc2.Subscribe("api.>", "", shared.handle); err != nil {
		t.Fatal(err)
	}
	if _, err := global(n3).SubscribeLocal("api.>", "", other.handle); err != nil {
		t.Fatal(err)
	}
	client := n1.connect(t)
	inbox := make(chan *nats.Msg, 1)
	if _, err := client.ChanSubscribe("_INBOX.me", inbox); err != nil {
		t.Fatal(err)
	}
	if err := client.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "inbox interest", func() bool { return hasRemoteInterest(n2, "n1", "_INBOX.me") })
	if !n1.cl.SendTo("n2", server.GlobalAccount, []byte("api.info"), []byte("_INBOX.me"), []byte("NATS/1.0\r\n\r\n"), []byte("{}")) {
		t.Fatal("SendTo to a connected peer failed")
	}
	select {
	case m := <-inbox:
		if string(m.Data) != "answer from n2" {
			t.Fatalf("answer %q", m.Data)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer to a forwarded request")
	}
	got := local.got()
	if len(got) != 1 || got[0].Subject != "api.info" || got[0].Reply != "_INBOX.me" || !got[0].FromRoute || string(got[0].Data) != "{}" || string(got[0].Header) != "NATS/1.0\r\n\r\n" {
		t.Fatalf("forwarded message %+v", got)
	}
	if len(shared.got()) != 0 || len(other.got()) != 0 {
		t.Fatal("a forwarded message reached a cluster-visible subscription or another node")
	}
	for _, bad := range []struct {
		peer, acc, subj, reply string
	}{{"nobody", "$G", "api.x", ""}, {"n2", "$G", "", ""}, {"n2", "$G", "api x", ""}, {"n2", "", "api.x", ""}, {"n2", "$G", "api.x", "a\r\nb"}} {
		if n1.cl.SendTo(bad.peer, bad.acc, []byte(bad.subj), []byte(bad.reply), nil, nil) {
			t.Fatalf("SendTo %+v succeeded", bad)
		}
	}

	// A routed message (a publish) and a forwarded one (a request) run
	// on the same worker, in the order sent.
	var mu sync.Mutex
	var order []string
	note := func(m *server.Msg) {
		mu.Lock()
		order = append(order, m.Subject+" "+string(m.Data))
		mu.Unlock()
	}
	if _, err := acc2.Subscribe("put", "", note); err != nil {
		t.Fatal(err)
	}
	if _, err := acc2.SubscribeLocal("get", "", note); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "put interest", func() bool { return hasRemoteInterest(n1, "n2", "put") })
	const total = 200
	for i := range total {
		global(n1).Publish("put", "", nil, []byte(fmt.Sprint(i)))
		if !n1.cl.SendTo("n2", server.GlobalAccount, []byte("get"), nil, nil, []byte(fmt.Sprint(i))) {
			t.Fatal("SendTo failed")
		}
	}
	waitFor(t, "puts and gets", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order) == 2*total
	})
	for i := range total {
		if order[2*i] != "put "+fmt.Sprint(i) || order[2*i+1] != "get "+fmt.Sprint(i) {
			t.Fatalf("order broken at %d: %v", i, order[2*i:2*i+2])
		}
	}
}

// TestSendRaft: frames reach the named peer's OnRaft with the sender's
// name; a frame for an unknown peer, or too large for the route's
// buffer, is dropped without cutting the route.
func TestSendRaft(t *testing.T) {
	type frame struct{ from, data string }
	frames, back := make(chan frame, 100), make(chan frame, 1)
	n1 := startNode(t, Options{ServerName: "n1", MaxPending: 1 << 20,
		OnRaft: func(from string, data []byte) { back <- frame{from, string(data)} }}, 0)
	n2 := startNode(t, Options{ServerName: "n2",
		OnRaft: func(from string, data []byte) { frames <- frame{from, string(data)} }}, 0, n1.addr())
	waitFor(t, "pair", func() bool { return peerNames(n1) == "n2" })
	if got := n1.cl.PeerNames(); len(got) != 1 || got[0] != "n2" {
		t.Fatalf("PeerNames %v", got)
	}
	for i := range 10 {
		if !n1.cl.SendRaft("n2", []byte(fmt.Sprintf("append %d\r\n", i))) {
			t.Fatal("SendRaft failed")
		}
	}
	if !n2.cl.SendRaft("n1", nil) {
		t.Fatal("SendRaft of an empty frame failed")
	}
	for i := range 10 {
		if f := <-frames; f.from != "n1" || f.data != fmt.Sprintf("append %d\r\n", i) {
			t.Fatalf("frame %d: %+v", i, f)
		}
	}
	if f := <-back; f.from != "n2" || f.data != "" {
		t.Fatalf("empty frame: %+v", f)
	}
	if n1.cl.SendRaft("n3", []byte("x")) {
		t.Fatal("SendRaft to an unknown peer succeeded")
	}
	if n1.cl.SendRaft("n2", make([]byte, 2<<20)) {
		t.Fatal("a frame larger than MaxPending was queued")
	}
	if !n1.cl.SendRaft("n2", []byte("still up")) {
		t.Fatal("the route went down")
	}
	if f := <-frames; f.data != "still up" {
		t.Fatalf("got %+v", f)
	}
}

// TestWaitDrainedRemote: with the listener on a peer that reads,
// WaitDrained returns once the route's output is written; with a peer
// that stops reading, it waits the write deadline and still reports
// the listener; with no interest anywhere it reports none at once.
func TestWaitDrainedRemote(t *testing.T) {
	n1 := startNodeWith(t, server.Options{WriteDeadline: 300 * time.Millisecond}, nil, Options{ServerName: "n1", PingInterval: time.Hour}, 0)
	n2 := startNode(t, Options{ServerName: "n2"}, 0, n1.addr())
	waitFor(t, "pair", func() bool { return peerNames(n1) == "n2" })
	acc := global(n1)
	if acc.WaitDrained("nobody", 0) {
		t.Fatal("no interest reported as listening")
	}
	client := n2.connect(t)
	var received atomic.Int64
	if _, err := client.Subscribe("fast", func(m *nats.Msg) { received.Add(int64(len(m.Data))) }); err != nil {
		t.Fatal(err)
	}
	if err := client.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "interest", func() bool { return acc.HasInterest("fast") })
	payload := make([]byte, 64<<10)
	for i := range 64 {
		acc.Publish("fast", "", nil, payload)
		if i%8 == 7 && !acc.WaitDrained("fast", 128<<10) {
			t.Fatal("the remote listener looked gone")
		}
	}
	waitFor(t, "everything received", func() bool { return received.Load() == 64*64<<10 })

	fakePeer(t, n1, "stuck", "RS+ $G stuck\r\n")
	waitFor(t, "stuck interest", func() bool { return hasRemoteInterest(n1, "stuck", "stuck") })
	// 32 MiB: more than socket buffers absorb, less than MaxPending.
	for range 512 {
		acc.Publish("stuck", "", nil, payload)
	}
	start := time.Now()
	if !acc.WaitDrained("stuck", 0) {
		t.Fatal("a peer with interest reported as gone")
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("WaitDrained returned after %v with the route's output unwritten", d)
	}
	if pendingTo(n1, "stuck") == 0 {
		t.Fatal("the stuck peer read everything")
	}
}

// pendingTo is the unsent output of n's route to peer.
func pendingTo(n *node, peer string) int {
	r := n.cl.routeTo(peer)
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.out.size + r.mu.inFlight
}

// TestReplyRuleAcrossRoutes: a request whose publisher may not be
// answered on its reply subject by an in-process service (the reply
// rule) reaches a peer's client subscribers, not its in-process ones.
func TestReplyRuleAcrossRoutes(t *testing.T) {
	perms, err := auth.NewPermissions(&auth.Rules{Allow: []string{"svc.>"}}, &auth.Rules{Allow: []string{"_INBOX.>"}})
	if err != nil {
		t.Fatal(err)
	}
	n1 := startNodeWith(t, server.Options{Auth: auth.Config{Users: []auth.User{{Name: "limited", Password: "p", Permissions: perms}}}}, nil, Options{ServerName: "n1"}, 0)
	n2 := startNode(t, Options{ServerName: "n2"}, 0, n1.addr())
	waitFor(t, "pair", func() bool { return peerNames(n1) == "n2" })
	var service recorder
	if _, err := global(n2).Subscribe("svc.>", "", service.handle); err != nil {
		t.Fatal(err)
	}
	watcher := n2.connect(t)
	ch := make(chan *nats.Msg, 2)
	if _, err := watcher.ChanSubscribe("svc.>", ch); err != nil {
		t.Fatal(err)
	}
	if err := watcher.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "interest", func() bool { return hasRemoteInterest(n1, "n2", "svc.a") })
	nc, err := nats.Connect(n1.srv.ClientURL(), nats.UserInfo("limited", "p"), nats.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.SubscribeSync("_INBOX.mine"); err != nil {
		t.Fatal(err)
	}
	if err := nc.PublishRequest("svc.a", "$KV.cfg.evil", []byte("refused")); err != nil {
		t.Fatal(err)
	}
	if err := nc.PublishRequest("svc.b", "_INBOX.mine", []byte("allowed")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"refused", "allowed"} {
		select {
		case m := <-ch:
			if string(m.Data) != want {
				t.Fatalf("client got %q, want %q", m.Data, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("client did not get %q", want)
		}
	}
	waitFor(t, "the allowed request", func() bool { return len(service.got()) > 0 })
	if got := service.got(); len(got) != 1 || string(got[0].Data) != "allowed" {
		t.Fatalf("in-process service got %+v", got)
	}
}

// TestSeedsConnected: true once a route is up to every configured
// route (the peer's advertised address may differ from the one dialed,
// and a node's own address counts), false while one is down.
func TestSeedsConnected(t *testing.T) {
	n1 := startNode(t, Options{ServerName: "n1"}, 0)
	port := n1.cl.Addr().(*net.TCPAddr).Port
	n1.close()
	n1 = startNode(t, Options{ServerName: "n1", Advertise: "localhost:" + strconv.Itoa(port)}, port)
	self := freePorts(t, 1)[0]
	selfAddr := "127.0.0.1:" + strconv.Itoa(self)
	n2 := startNode(t, Options{ServerName: "n2"}, self, n1.addr(), selfAddr)
	waitFor(t, "seeds connected", n2.cl.SeedsConnected)
	if p := n2.cl.Peers(); len(p) != 1 || p[0].RouteURL == n1.addr() {
		t.Fatalf("peers %+v: the advertised address should differ from the dialed one", p)
	}
	if !n1.cl.SeedsConnected() {
		t.Fatal("a node without configured routes is not connected to them")
	}
	n1.close()
	waitFor(t, "seed lost", func() bool { return !n2.cl.SeedsConnected() })
}
