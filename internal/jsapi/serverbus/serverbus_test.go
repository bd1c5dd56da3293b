package serverbus_test

import (
	"errors"
	"io"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/cairn-db/cairn/internal/cluster"
	"github.com/cairn-db/cairn/internal/jsapi"
	"github.com/cairn-db/cairn/internal/jsapi/serverbus"
	"github.com/cairn-db/cairn/internal/server"
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
