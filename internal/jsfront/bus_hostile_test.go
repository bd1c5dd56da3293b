package jsfront

import (
	"io"
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/jsapi"
	"github.com/cairn-db/cairn/internal/server"
)

// TestHostileForwardedCreatePlacedElsewhere: a peer whose view of the
// metadata is behind forwards a STREAM.CREATE of S here while the group
// has placed S on n2 (released here, placed again there). Creating it
// here would make a second stream of that name; the request is answered
// with an error instead.
func TestHostileForwardedCreatePlacedElsewhere(t *testing.T) {
	srv, err := server.New(server.Options{Host: "127.0.0.1", Port: -1, Name: "n1", Logger: server.NewLogger(io.Discard, false, false)})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	acc := srv.Account("")
	r := newRig(t, nil)
	r.meta.set(acc.Name(), "S", "n2")
	bus, unsub, err := r.f.Bus(acc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unsub)
	called := make(chan string, 4)
	stop, err := bus.SubscribeCaller("$JS.API.STREAM.CREATE.*", func(_ jsapi.Caller, subject, _ string, _, _ []byte) {
		called <- subject
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	srv.DeliverForwarded(acc.Name(), []byte("$JS.API.STREAM.CREATE.S"), []byte("_INBOX.fwd"), nil, []byte(`{"name":"S"}`))
	select {
	case s := <-called:
		t.Fatalf("%s created here although S is placed on n2", s)
	case <-time.After(200 * time.Millisecond):
	}
	a := r.answerTo(t)
	if _, e := apiErr(t, a.data); a.subject != "_INBOX.fwd" || e == nil {
		t.Fatalf("answer %+v", a)
	}
	// One placed here, or not yet known here, is created.
	srv.DeliverForwarded(acc.Name(), []byte("$JS.API.STREAM.CREATE.T"), []byte("_INBOX.fwd"), nil, []byte(`{"name":"T"}`))
	select {
	case <-called:
	case <-time.After(5 * time.Second):
		t.Fatal("a forwarded creation of a stream placed nowhere yet was not run")
	}
}
