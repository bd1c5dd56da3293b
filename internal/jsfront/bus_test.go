package jsfront

import (
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cairn-db/cairn/internal/auth"
	"github.com/cairn-db/cairn/internal/jsapi"
	"github.com/cairn-db/cairn/internal/server"
)

// TestBusTrustsCallerOnlyFromRoute: through a real server, a client's
// request reaches the handler with its Cairn-Caller lines removed and
// the client itself as the caller; a forwarded request (from a route)
// is answered with the recorded caller it carries, or unrestricted
// without one, and what the handler did is recorded in the metadata
// group.
func TestBusTrustsCallerOnlyFromRoute(t *testing.T) {
	perms, err := auth.NewPermissions(&auth.Rules{Allow: []string{"$JS.API.>", "_INBOX.>"}}, &auth.Rules{Allow: []string{"_INBOX.>"}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Options{Host: "127.0.0.1", Port: -1, Name: "n1", Logger: server.NewLogger(io.Discard, false, false),
		Auth: auth.Config{Users: []auth.User{{Name: "admin", Password: "p"}, {Name: "r", Password: "p", Permissions: perms}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	acc := srv.Account("")
	r := newRig(t, nil)
	r.meta.set(acc.Name(), "S", "n1")
	bus, unsub, err := r.f.Bus(acc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unsub)

	type call struct {
		caller jsapi.Caller
		live   bool // the caller answered during the call as the client would
		hdr    string
	}
	calls := make(chan call, 8)
	stop, err := bus.SubscribeCaller("$JS.API.STREAM.CREATE.*", func(c jsapi.Caller, subject, reply string, hdr, data []byte) {
		live := c != nil && c.MayBeAnsweredOn("_INBOX.x") && !c.MayBeAnsweredOn("secret")
		calls <- call{c, live, string(hdr)}
		r.local.setConfig(acc.Name(), "S", json.RawMessage(`{"name":"S"}`))
		bus.Publish(reply, "", nil, []byte(`{}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	next := func() call {
		t.Helper()
		select {
		case c := <-calls:
			return c
		case <-time.After(10 * time.Second):
			t.Fatal("handler not called")
			return call{}
		}
	}
	grant := `{"ans":{"secret":true},"sub":{">":true}}`

	for _, user := range []string{"r", "admin"} {
		nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo(user, "p"))
		if err != nil {
			t.Fatal(err)
		}
		m := nats.NewMsg("$JS.API.STREAM.CREATE.S")
		m.Header.Set("Cairn-Caller", grant)
		m.Header.Set("X", "y")
		if _, err := nc.RequestMsg(m, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		nc.Close()
		c := next()
		if c.hdr != "NATS/1.0\r\nX: y\r\n\r\n" {
			t.Errorf("%s: handler got header %q", user, c.hdr)
		}
		if user == "r" && (!c.live || isRecorded(c.caller)) {
			t.Errorf("%s: handler got caller %#v, want the client", user, c.caller)
		}
		if user == "admin" && c.caller != nil {
			t.Errorf("%s: handler got caller %#v, want nil", user, c.caller)
		}
		select {
		case <-r.meta.changed:
		case <-time.After(10 * time.Second):
			t.Fatal("creation not recorded")
		}
	}

	// From a route: the recorded caller is trusted, the header kept.
	hdr := "NATS/1.0\r\nX: y\r\nCairn-Caller: " + grant + "\r\n\r\n"
	if !srv.DeliverForwarded(acc.Name(), []byte("$JS.API.STREAM.CREATE.S"), []byte("_INBOX.fwd"), []byte(hdr), []byte(`{}`)) {
		t.Fatal("not delivered")
	}
	c := next()
	assertCaller(t, c.caller, &jsapi.RecordedCaller{AnsweredOn: map[string]bool{"secret": true}, SubscribeAll: map[string]bool{">": true}})
	if c.hdr != hdr {
		t.Errorf("forwarded header %q", c.hdr)
	}
	select {
	case <-r.meta.changed:
	case <-time.After(10 * time.Second):
		t.Fatal("forwarded creation not recorded")
	}
	// A forwarded request without a caller is an unrestricted one's; a
	// garbled one refuses everything.
	srv.DeliverForwarded(acc.Name(), []byte("$JS.API.STREAM.CREATE.S"), []byte("_INBOX.fwd"), nil, []byte(`{}`))
	if c := next(); c.caller != nil {
		t.Errorf("forwarded without a caller: %#v", c.caller)
	}
	<-r.meta.changed
	srv.DeliverForwarded(acc.Name(), []byte("$JS.API.STREAM.CREATE.S"), []byte("_INBOX.fwd"), []byte("NATS/1.0\r\nCairn-Caller: {\r\n\r\n"), []byte(`{}`))
	if c := next(); c.caller == nil || c.caller.MayBeAnsweredOn("_INBOX.x") || c.caller.MaySubscribeAll(">") {
		t.Errorf("forwarded with a garbled caller: %#v", c.caller)
	}
	<-r.meta.changed
	if s := r.net.sent(); len(s) != 0 {
		t.Fatalf("sent to peers: %+v", s)
	}
}

func isRecorded(c jsapi.Caller) bool {
	_, ok := c.(*jsapi.RecordedCaller)
	return ok
}

// srvLocal is a server's accounts as the front's Local.
type srvLocal struct{ srv *server.Server }

func (l srvLocal) Publish(account, subject, reply string, hdr, data []byte) {
	l.srv.Account(account).Publish(subject, reply, hdr, data)
}

func (l srvLocal) StreamConfig(string, string) (json.RawMessage, bool) { return nil, false }

// TestGatherAnswerFromAnotherAccount: the front's inbox is subscribed in
// every account, and its subjects are predictable; a client of another
// account publishing there must not answer a gathering of this one.
func TestGatherAnswerFromAnotherAccount(t *testing.T) {
	srv, err := server.New(server.Options{Host: "127.0.0.1", Port: -1, Name: "n1", Logger: server.NewLogger(io.Discard, false, false),
		Auth: auth.Config{Users: []auth.User{{Name: "a", Password: "p", Account: "A"}, {Name: "b", Password: "p", Account: "B"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	r := newRig(t, func(o *Options) { o.Local = srvLocal{srv}; o.Timeout = 500 * time.Millisecond })
	r.net.peers = []string{"n2"}
	for _, name := range []string{"A", "B"} {
		acc := srv.Account(name)
		bus, unsub, err := r.f.Bus(acc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(unsub)
		page := []byte(`{"type":"io.nats.jetstream.api.v1.stream_names_response","total":1,"offset":0,"limit":1024,"streams":["` + name + `-real"]}`)
		stop, err := bus.SubscribeCaller("$JS.API.STREAM.NAMES", func(_ jsapi.Caller, _, reply string, _, _ []byte) {
			bus.Publish(reply, "", nil, page)
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
	}
	ncA, err := nats.Connect(srv.ClientURL(), nats.UserInfo("a", "p"))
	if err != nil {
		t.Fatal(err)
	}
	defer ncA.Close()
	ncB, err := nats.Connect(srv.ClientURL(), nats.UserInfo("b", "p"))
	if err != nil {
		t.Fatal(err)
	}
	defer ncB.Close()
	// n2 never answers; B's client answers in its place as soon as the
	// request is sent to n2.
	r.net.mu.Lock()
	r.net.onSend = func(s sent) {
		_ = ncB.Publish(s.reply, []byte(`{"type":"io.nats.jetstream.api.v1.stream_names_response","total":1,"offset":0,"limit":1024,"streams":["spoofed"]}`))
		_ = ncB.Flush()
	}
	r.net.mu.Unlock()
	resp, err := ncA.Request("$JS.API.STREAM.NAMES", []byte(`{}`), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Streams []string `json:"streams"`
	}
	if err := json.Unmarshal(resp.Data, &got); err != nil || len(got.Streams) != 1 || got.Streams[0] != "A-real" {
		t.Fatalf("A's client got %s", resp.Data)
	}
}
