package jsfront

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cairn-db/cairn/internal/auth"
	"github.com/cairn-db/cairn/internal/jsapi"
	"github.com/cairn-db/cairn/internal/server"
)

func startServer(t *testing.T) *server.Server {
	t.Helper()
	srv, err := server.New(server.Options{Host: "127.0.0.1", Port: -1, Name: "n1", Logger: server.NewLogger(io.Discard, false, false),
		Auth: auth.Config{Users: []auth.User{{Name: "sys", Password: "p", Account: "SYS"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

// infoCalls subscribes STREAM.INFO through r's bus on acc and returns
// the subjects the API handler is called with.
func infoCalls(t *testing.T, r *rig, acc *server.Account) chan string {
	t.Helper()
	bus, unsub, err := r.f.Bus(acc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unsub)
	calls := make(chan string, 8)
	stop, err := bus.SubscribeCaller("$JS.API.STREAM.INFO.*", func(_ jsapi.Caller, subject, _ string, _, _ []byte) {
		calls <- subject
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return calls
}

// TestBusReplicatedFromRoute: a request forwarded over a route about a
// replicated stream is answered by the leader's API, dropped by a
// follower's, answered by a node that runs no replica as before; none
// is sent on (one hop).
func TestBusReplicatedFromRoute(t *testing.T) {
	srv := startServer(t)
	acc := srv.Account("")
	r := newRig(t, nil)
	r.meta.setPeers(acc.Name(), "S", "n2", "n1", "n3")
	calls := infoCalls(t, r, acc)
	for _, tc := range []struct {
		name               string
		replicated, leader bool
		answered           bool
	}{
		{"leader", true, true, true},
		{"follower", true, false, false},
		{"peer, replica not started", false, false, false},
	} {
		r.local.setLeads(acc.Name(), "S", tc.replicated, tc.leader)
		if !srv.DeliverForwarded(acc.Name(), []byte("$JS.API.STREAM.INFO.S"), []byte("_INBOX.fwd"), nil, nil) {
			t.Fatalf("%s: not delivered", tc.name)
		}
		// DeliverForwarded runs the handler on this goroutine.
		if got := len(calls) == 1; got != tc.answered {
			t.Fatalf("%s: answered %v", tc.name, got)
		}
		if tc.answered {
			<-calls
		}
	}
	// A node that is no peer of the stream answers as before.
	r.meta.setPeers(acc.Name(), "T", "n2", "n3", "n4")
	srv.DeliverForwarded(acc.Name(), []byte("$JS.API.STREAM.INFO.T"), []byte("_INBOX.fwd"), nil, nil)
	if len(calls) != 1 {
		t.Fatal("a node that is no peer dropped a forwarded request")
	}
	<-calls
	if s := r.net.sent(); len(s) != 0 {
		t.Fatalf("forwarded again: %+v", s)
	}
}

// TestServeMeta: META.LEADER.STEPDOWN from a client of the system
// account is answered by the leader; a forwarded one at a node that is
// not the leader is dropped.
func TestServeMeta(t *testing.T) {
	srv := startServer(t)
	r := newRig(t, func(o *Options) { o.Local = srvLocal{srv} })
	r.meta.leader = "n1"
	stop, err := r.f.ServeMeta(srv.Account("SYS"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo("sys", "p"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	m, err := nc.Request(subjMetaStepDown, nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Data) != `{"type":"io.nats.jetstream.api.v1.meta_leader_stepdown_response","success":true}` {
		t.Fatalf("answer %s", m.Data)
	}
	r.meta.mu.Lock()
	r.meta.leader = "n2"
	r.meta.mu.Unlock()
	srv.DeliverForwarded("SYS", []byte(subjMetaStepDown), []byte("_INBOX.fwd"), nil, nil)
	if s := r.net.sent(); len(s) != 0 {
		t.Fatalf("forwarded again: %+v", s)
	}
}

// syncingMeta is a fakeMeta that can catch up (SyncMeta): Sync runs
// onSync, the state the node was behind on arriving.
type syncingMeta struct {
	*fakeMeta
	onSync func()
}

func (m syncingMeta) Sync(context.Context) error {
	m.onSync()
	return nil
}

// TestBusUnknownStreamWaitsForSync: a request forwarded over a route
// about a stream this node knows nothing of (its metadata is behind: it
// just restarted) is not answered "not found" at once; once the
// metadata caught up, a peer whose replica does not run yet stays
// silent (the leader answers), and a stream still unknown is answered
// by the API as before.
func TestBusUnknownStreamWaitsForSync(t *testing.T) {
	srv := startServer(t)
	acc := srv.Account("")
	synced := make(chan struct{}, 4)
	var r *rig
	r = newRig(t, func(o *Options) {
		o.Meta = syncingMeta{o.Meta.(*fakeMeta), func() {
			r.meta.setPeers(acc.Name(), "S", "n2", "n1", "n3")
			synced <- struct{}{}
		}}
	})
	calls := infoCalls(t, r, acc)
	r.local.setLeads(acc.Name(), "S", false, false) // its replica does not run yet
	srv.DeliverForwarded(acc.Name(), []byte("$JS.API.STREAM.INFO.S"), []byte("_INBOX.fwd"), nil, nil)
	select {
	case <-synced:
	case <-time.After(5 * time.Second):
		t.Fatal("no catch-up asked for")
	}
	// The answer, if any, comes from the catch-up's goroutine: give it
	// time to be wrong.
	select {
	case s := <-calls:
		t.Fatalf("answered %s as a node that knows nothing of it", s)
	case <-time.After(200 * time.Millisecond):
	}
	srv.DeliverForwarded(acc.Name(), []byte("$JS.API.STREAM.INFO.U"), []byte("_INBOX.fwd"), nil, nil)
	select {
	case s := <-calls:
		if s != "$JS.API.STREAM.INFO.U" {
			t.Fatalf("answered %s", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a stream unknown after the catch-up was not answered")
	}
}
