package serverbus_test

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/cairn-db/cairn/internal/cluster"
	"github.com/cairn-db/cairn/internal/consumer"
	"github.com/cairn-db/cairn/internal/jsapi"
	"github.com/cairn-db/cairn/internal/jsapi/serverbus"
	"github.com/cairn-db/cairn/internal/server"
	"github.com/cairn-db/cairn/internal/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// node starts a server and its cluster on loopback.
func node(t *testing.T, name string, routes ...string) (*server.Server, *cluster.Cluster) {
	t.Helper()
	srv, err := server.New(server.Options{Host: "127.0.0.1", Port: -1, Name: name, Logger: server.NewLogger(io.Discard, false, false)})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	opts := cluster.Options{Name: "c1", ServerName: name, Host: "127.0.0.1", PingInterval: 200 * time.Millisecond}
	for _, r := range routes {
		opts.Routes = append(opts.Routes, mustURL(t, r))
	}
	cl, err := cluster.Start(srv, opts)
	if err != nil {
		srv.Shutdown()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cl.Close()
		srv.Shutdown()
	})
	return srv, cl
}

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

// TestClusterVisibility: on a cluster, a Bus from New subscribes
// cluster-visibly with Subscribe and node-locally with SubscribeCaller
// (the API endpoints); a Bus from NewLocal node-locally with both.
func TestClusterVisibility(t *testing.T) {
	s1, cl1 := node(t, "n1")
	s2, cl2 := node(t, "n2", cl1.Addr().String())
	waitFor(t, "pair", func() bool { return len(cl2.PeerNames()) == 1 })
	acc1, acc2 := s1.Account(server.GlobalAccount), s2.Account(server.GlobalAccount)

	shared, local := serverbus.New(acc2), serverbus.NewLocal(acc2)
	got := make(chan string, 10)
	answer := func(bus jsapi.Bus, name string) jsapi.Handler {
		return func(_, reply string, _, _ []byte) {
			got <- name
			bus.Publish(reply, "", nil, []byte(name))
		}
	}
	for _, sub := range []struct {
		bus  jsapi.Bus
		subj string
	}{{shared, "ingest.a"}, {local, "disabled.a"}} {
		unsub, err := sub.bus.Subscribe(sub.subj, answer(sub.bus, sub.subj))
		if err != nil {
			t.Fatal(err)
		}
		defer unsub()
	}
	unsub, err := shared.SubscribeCaller("api.a", func(_ jsapi.Caller, _, reply string, _, _ []byte) {
		got <- "api.a"
		shared.Publish(reply, "", nil, []byte("api.a"))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unsub()

	waitFor(t, "n2's shared subscription on n1", func() bool { return acc1.HasInterest("ingest.a") })
	nc, err := nats.Connect(s1.ClientURL(), nats.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if m, err := nc.Request("ingest.a", nil, 5*time.Second); err != nil || string(m.Data) != "ingest.a" {
		t.Fatalf("request to a shared subscription on the peer: %v, %v", m, err)
	}
	for _, subj := range []string{"api.a", "disabled.a"} {
		if acc1.HasInterest(subj) {
			t.Fatalf("n1 sees interest in the peer's node-local %s", subj)
		}
		if _, err := nc.Request(subj, nil, 2*time.Second); !errors.Is(err, nats.ErrNoResponders) {
			t.Fatalf("request to the peer's node-local %s: %v, want no responders", subj, err)
		}
	}
	// On their own node all three answer.
	nc2, err := nats.Connect(s2.ClientURL(), nats.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	for _, subj := range []string{"ingest.a", "api.a", "disabled.a"} {
		if m, err := nc2.Request(subj, nil, 5*time.Second); err != nil || string(m.Data) != subj {
			t.Fatalf("local request to %s: %v, %v", subj, m, err)
		}
	}
}

func mustURL(t *testing.T, hostPort string) *url.URL {
	t.Helper()
	u, err := url.Parse("nats://" + hostPort)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// consumerBus adapts an account to consumer.Bus, as the daemon does.
type consumerBus struct{ acc *server.Account }

func (b consumerBus) PublishAs(routeSubj, subj, reply, hdr, data []byte) {
	b.acc.PublishAs(routeSubj, subj, reply, hdr, data)
}

func (b consumerBus) Subscribe(subj string, h func(subj, reply string, hdr, data []byte)) (func(), error) {
	sub, err := b.acc.Subscribe(subj, "", func(m *server.Msg) { h(m.Subject, m.Reply, m.Header, m.Data) })
	if err != nil {
		return nil, err
	}
	return sub.Unsubscribe, nil
}

func (b consumerBus) HasInterest(subj string) bool { return b.acc.HasInterest(subj) }

// TestJetStreamDataPathAcrossNodes: a bucket's stream on n2; a client
// of n1 puts (ingest) and gets (direct get) through the routes, and a
// consumer on n2 delivers a watch to an inbox of n1's client
// (PublishAs across the route, flow control answered from n1), while
// n2's API stays node-local.
func TestJetStreamDataPathAcrossNodes(t *testing.T) {
	s1, cl1 := node(t, "n1")
	s2, cl2 := node(t, "n2", cl1.Addr().String())
	waitFor(t, "pair", func() bool { return len(cl2.PeerNames()) == 1 })
	acc1, acc2 := s1.Account(server.GlobalAccount), s2.Account(server.GlobalAccount)
	st, err := store.Open("", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	mgr := consumer.NewManager(consumerBus{acc2}, nil)
	defer mgr.Close()
	api, err := jsapi.New(serverbus.New(acc2), st, jsapi.Options{ServerName: "n2", Consumers: mgr})
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()

	nc2, err := nats.Connect(s2.ClientURL(), nats.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	const cfg = `{"name":"KV_b","subjects":["$KV.b.>"],"max_msgs_per_subject":5,"discard":"new","allow_direct":true,"allow_rollup_hdrs":true,"deny_delete":true,"storage":"memory","num_replicas":1}`
	if m, err := nc2.Request("$JS.API.STREAM.CREATE.KV_b", []byte(cfg), 5*time.Second); err != nil || strings.Contains(string(m.Data), `"error"`) {
		t.Fatalf("create on n2: %v %v", m, err)
	}
	waitFor(t, "the stream's subjects on n1", func() bool {
		return acc1.HasInterest("$KV.b.k") && acc1.HasInterest("$JS.API.DIRECT.GET.KV_b.$KV.b.k")
	})
	if acc1.HasInterest("$JS.API.STREAM.INFO.KV_b") {
		t.Fatal("n2's API endpoints are announced")
	}

	nc1, err := nats.Connect(s1.ClientURL(), nats.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	defer nc1.Close()
	watch, err := nc1.SubscribeSync("_INBOX.watch")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc1.Flush(); err != nil {
		t.Fatal(err)
	}
	for i, v := range []string{"v1", "v2"} {
		m, err := nc1.Request("$KV.b.k", []byte(v), 5*time.Second)
		if err != nil || string(m.Data) != fmt.Sprintf(`{"stream":"KV_b","seq":%d}`, i+1) {
			t.Fatalf("put %s from n1: %v %v", v, m, err)
		}
		g, err := nc1.Request("$JS.API.DIRECT.GET.KV_b.$KV.b.k", nil, 5*time.Second)
		if err != nil || string(g.Data) != v || g.Header.Get("Nats-Sequence") != fmt.Sprint(i+1) {
			t.Fatalf("get after put %s from n1: %v %v", v, g, err)
		}
	}
	if _, err := nc1.Request("$JS.API.STREAM.INFO.KV_b", nil, 2*time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("n2's API from n1: %v, want no responders", err)
	}

	waitFor(t, "the inbox on n2", func() bool { return acc2.HasInterest("_INBOX.watch") })
	const create = `{"stream_name":"KV_b","config":{"deliver_subject":"_INBOX.watch","deliver_policy":"last_per_subject","filter_subject":"$KV.b.>","ack_policy":"none","flow_control":true,"idle_heartbeat":5000000000,"mem_storage":true,"num_replicas":1}}`
	if m, err := nc2.Request("$JS.API.CONSUMER.CREATE.KV_b", []byte(create), 5*time.Second); err != nil || strings.Contains(string(m.Data), `"error"`) {
		t.Fatalf("consumer create on n2: %v %v", m, err)
	}
	flowControls := 0
	next := func() *nats.Msg {
		t.Helper()
		for {
			m, err := watch.NextMsg(5 * time.Second)
			if err != nil {
				t.Fatalf("watch on n1: %v", err)
			}
			if len(m.Data) == 0 && m.Header.Get("Status") == "100" {
				if m.Reply != "" {
					flowControls++
					_ = m.Respond(nil) // flow control, answered across the route
				}
				continue
			}
			return m
		}
	}
	if m := next(); m.Subject != "$KV.b.k" || string(m.Data) != "v2" {
		t.Fatalf("watch's first message %s %q", m.Subject, m.Data)
	}
	if m, err := nc1.Request("$KV.b.k2", []byte("v3"), 5*time.Second); err != nil || !strings.Contains(string(m.Data), `"seq":3`) {
		t.Fatalf("put from n1: %v %v", m, err)
	}
	if m := next(); m.Subject != "$KV.b.k2" || string(m.Data) != "v3" {
		t.Fatalf("watch's update %s %q", m.Subject, m.Data)
	}
	// 7 MiB more: the consumer asks for flow control every 2 MiB and
	// stops while two requests are unanswered, so it gets through only
	// if the answers come back over the route.
	big := make([]byte, 64<<10)
	for i := range 112 {
		subj := fmt.Sprintf("$KV.b.big%d", i)
		if _, err := nc1.Request(subj, big, 5*time.Second); err != nil {
			t.Fatalf("put %s: %v", subj, err)
		}
		if m := next(); m.Subject != subj || len(m.Data) != len(big) {
			t.Fatalf("watch got %s (%d bytes), want %s", m.Subject, len(m.Data), subj)
		}
	}
	if flowControls < 3 {
		t.Fatalf("%d flow control requests reached n1's client, want 3", flowControls)
	}
}
