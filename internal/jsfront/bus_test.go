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
