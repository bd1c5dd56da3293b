package server_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cairn-db/cairn/internal/auth"
	"github.com/cairn-db/cairn/internal/server"
	"github.com/cairn-db/cairn/internal/testcert"
)

// reload applies opts to s as its configuration read again: on the
// loopback host and random port startServer uses.
func reload(t testing.TB, s *server.Server, opts server.Options) {
	t.Helper()
	if err := s.Reload(loopback(opts)); err != nil {
		t.Fatalf("reload: %v", err)
	}
}

func loopback(opts server.Options) server.Options {
	opts.Host, opts.Port = "127.0.0.1", -1
	return opts
}

// watched is a nats.go connection that records the errors its async
// handler receives and when it is closed.
type watched struct {
	*nats.Conn
	mu     sync.Mutex
	errs   []error
	closed chan struct{}
}

// connectWatched connects to s without reconnecting, so that what the
// server does on a reload is all the client sees.
func connectWatched(t testing.TB, s *server.Server, opts ...nats.Option) *watched {
	t.Helper()
	w := &watched{closed: make(chan struct{})}
	opts = append(opts, nats.NoReconnect(), nats.Timeout(5*time.Second),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			w.mu.Lock()
			w.errs = append(w.errs, err)
			w.mu.Unlock()
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(w.closed) }))
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	w.Conn = nc
	return w
}

// errors returns the errors received so far.
func (w *watched) errors() []error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]error(nil), w.errs...)
}

// waitClosed fails t unless the connection is closed within 5s.
func (w *watched) waitClosed(t testing.TB) {
	t.Helper()
	select {
	case <-w.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("connection not closed")
	}
}

// waitError fails t unless an error containing text (in any case, as
// nats.go lowers some) arrives within 5s.
func (w *watched) waitError(t testing.TB, text string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, err := range w.errors() {
			if strings.Contains(strings.ToLower(err.Error()), strings.ToLower(text)) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no error %q; got %v", text, w.errors())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestReloadUsers: a reload lets a new user in at once; a removed user's
// connection is closed without an error (as nats-server closes it); a
// connection whose password changed gets the authorization violation
// and is closed; new connections need the new passwords; an unchanged
// user keeps its connection.
func TestReloadUsers(t *testing.T) {
	users := func(list ...auth.User) server.Options {
		return server.Options{Auth: auth.Config{Users: list}}
	}
	s := startServer(t, users(
		auth.User{Name: "a", Password: "pa"},
		auth.User{Name: "b", Password: bcryptOf(t, "pb")},
		auth.User{Name: "k", Password: "pk"}))
	ncA := connectWatched(t, s, nats.UserInfo("a", "pa"))
	ncB := connectWatched(t, s, nats.UserInfo("b", "pb"))
	ncK := connectWatched(t, s, nats.UserInfo("k", "pk"))
	if err := tryConnect(t, s, nats.UserInfo("c", "pc")); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("c before the reload: %v", err)
	}

	reload(t, s, users(
		auth.User{Name: "a", Password: "pa2"},
		auth.User{Name: "k", Password: "pk"},
		auth.User{Name: "c", Password: "pc"}))

	ncA.waitError(t, "Authorization Violation")
	ncA.waitClosed(t)
	ncB.waitClosed(t)
	if errs := ncB.errors(); len(errs) != 0 {
		t.Errorf("removed user's connection got %v; nats-server closes it without an error", errs)
	}
	if err := ncK.Flush(); err != nil {
		t.Errorf("unchanged user's connection: %v", err)
	}
	for _, c := range []struct {
		user, pass string
		ok         bool
	}{{"a", "pa", false}, {"a", "pa2", true}, {"b", "pb", false}, {"c", "pc", true}, {"k", "pk", true}} {
		err := tryConnect(t, s, nats.UserInfo(c.user, c.pass))
		if c.ok != (err == nil) || (err != nil && !errors.Is(err, nats.ErrAuthorization)) {
			t.Errorf("%s/%s after the reload: %v", c.user, c.pass, err)
		}
	}
}

// TestReloadTokenAndAuthOn: a changed token closes the token's
// connections with the violation; turning authentication on closes the
// anonymous connections the same way, as nats-server does.
func TestReloadTokenAndAuthOn(t *testing.T) {
	s := startServer(t, server.Options{Auth: auth.Config{Token: "t1"}})
	nc := connectWatched(t, s, nats.Token("t1"))
	reload(t, s, server.Options{Auth: auth.Config{Token: "t2"}})
	nc.waitError(t, "Authorization Violation")
	nc.waitClosed(t)
	if err := tryConnect(t, s, nats.Token("t2")); err != nil {
		t.Fatal(err)
	}

	open := startServer(t, server.Options{})
	anon := connectWatched(t, open)
	reload(t, open, server.Options{Auth: auth.Config{User: "u", Password: "p"}})
	anon.waitError(t, "Authorization Violation")
	anon.waitClosed(t)
	if err := tryConnect(t, open); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("anonymous after the reload: %v", err)
	}
}

// TestReloadNkey: an nkey user's connection is checked again with the
// signature over the nonce it was sent: kept (with its new permissions)
// while the key is configured, closed once it is removed.
func TestReloadNkey(t *testing.T) {
	kp, pub := newNkey(t)
	opt := nats.Nkey(pub, func(nonce []byte) ([]byte, error) { return kp.Sign(nonce) })
	withPerms := func(pubAllow ...string) server.Options {
		p, err := auth.NewPermissions(&auth.Rules{Allow: pubAllow}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return server.Options{Auth: auth.Config{Users: []auth.User{{Nkey: pub, Permissions: p}, {Name: "x", Password: "x"}}}}
	}
	s := startServer(t, withPerms(">"))
	nc := connectWatched(t, s, opt)
	reload(t, s, withPerms("only"))
	if err := nc.Publish("elsewhere", nil); err != nil {
		t.Fatal(err)
	}
	nc.waitError(t, `Permissions Violation for Publish to "elsewhere"`)
	if nc.IsClosed() {
		t.Fatal("nkey connection closed by a reload that kept the key")
	}
	reload(t, s, server.Options{Auth: auth.Config{Users: []auth.User{{Name: "x", Password: "x"}}}})
	nc.waitClosed(t)
}

// TestReloadPermissions: open connections get the new permissions: a
// subject published to before (and cached) is refused now; a
// subscription no longer allowed is removed with nats-server's -ERR and
// receives nothing more; one still allowed that now overlaps a deny
// entry stops receiving the denied subjects; the others go on.
func TestReloadPermissions(t *testing.T) {
	perms := func(pub, sub *auth.Rules) server.Options {
		p, err := auth.NewPermissions(pub, sub)
		if err != nil {
			t.Fatal(err)
		}
		return server.Options{Auth: auth.Config{Users: []auth.User{
			{Name: "u", Password: "p", Permissions: p},
			{Name: "free", Password: "p"},
		}}}
	}
	s := startServer(t, perms(nil, nil))
	u := connectWatched(t, s, nats.UserInfo("u", "p"))
	free := connectWatched(t, s, nats.UserInfo("free", "p"))
	subX, err := u.SubscribeSync("x.>")
	if err != nil {
		t.Fatal(err)
	}
	subZ, err := u.SubscribeSync("z.>")
	if err != nil {
		t.Fatal(err)
	}
	subQ, err := u.QueueSubscribeSync("q", "workers")
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Publish("x", nil); err != nil { // cached as allowed
		t.Fatal(err)
	}
	if err := u.Flush(); err != nil {
		t.Fatal(err)
	}

	reload(t, s, perms(&auth.Rules{Allow: []string{"y"}}, &auth.Rules{Allow: []string{"z.>", "q"}, Deny: []string{"z.secret"}}))

	u.waitError(t, `Permissions Violation for Subscription to "x.>" (sid "1")`)
	if err := u.Publish("x", nil); err != nil {
		t.Fatal(err)
	}
	u.waitError(t, `Permissions Violation for Publish to "x"`)
	for _, subj := range []string{"x.1", "z.secret", "z.open", "q"} {
		if err := free.Publish(subj, []byte(subj)); err != nil {
			t.Fatal(err)
		}
	}
	if err := free.Flush(); err != nil {
		t.Fatal(err)
	}
	if m, err := subZ.NextMsg(2 * time.Second); err != nil || m.Subject != "z.open" {
		t.Fatalf("z.> got %v, %v; want z.open (z.secret denied)", m, err)
	}
	if _, err := subQ.NextMsg(2 * time.Second); err != nil {
		t.Fatalf("queue subscription still allowed: %v", err)
	}
	if err := u.Flush(); err != nil {
		t.Fatal(err)
	}
	if m, err := subX.NextMsg(100 * time.Millisecond); err == nil && m.Subject == "x.1" {
		t.Fatal("removed subscription still receives")
	}
	if u.IsClosed() {
		t.Fatal("permission changes closed the connection")
	}
}

// TestReloadTLSCertificate: a new connection sees the certificate of the
// reloaded configuration; one opened before keeps working.
func TestReloadTLSCertificate(t *testing.T) {
	ca, caKey := testcert.New(t, "ca", nil, nil, true)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	withCert := func() (server.Options, *x509.Certificate) {
		cert, key := testcert.New(t, "server", ca, caKey, false)
		return server.Options{TLSConfig: &tls.Config{Certificates: []tls.Certificate{testcert.TLSCertificate(cert, key)}}}, cert
	}
	first, cert1 := withCert()
	s := startServer(t, first)
	old := connectWatched(t, s, nats.Secure(&tls.Config{RootCAs: pool}))
	second, cert2 := withCert()
	reload(t, s, second)

	serial := func(nc *nats.Conn) string {
		cs, err := nc.TLSConnectionState()
		if err != nil {
			t.Fatal(err)
		}
		return cs.PeerCertificates[0].SerialNumber.String()
	}
	nc := connectWatched(t, s, nats.Secure(&tls.Config{RootCAs: pool}))
	if got := serial(nc.Conn); got != cert2.SerialNumber.String() {
		t.Errorf("new connection's certificate %s, want the reloaded %s", got, cert2.SerialNumber)
	}
	if got := serial(old.Conn); got != cert1.SerialNumber.String() {
		t.Errorf("open connection's certificate %s, want %s", got, cert1.SerialNumber)
	}
	sub, err := old.SubscribeSync("tls")
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("tls", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsg(2 * time.Second); err != nil {
		t.Fatalf("open connection after the reload: %v", err)
	}
}

// TestReloadRefused: a change nats-server refuses to reload (the port,
// max_pending, TLS turned on), or an invalid authorization, fails the
// whole reload with nats-server's words, and the server keeps its
// configuration: the old user still connects, the new one does not.
func TestReloadRefused(t *testing.T) {
	old := server.Options{Auth: auth.Config{User: "old", Password: "p"}}
	s := startServer(t, old)
	ca, caKey := testcert.New(t, "ca", nil, nil, true)
	cert, key := testcert.New(t, "server", ca, caKey, false)
	newAuth := auth.Config{User: "new", Password: "p"}
	for _, c := range []struct {
		edit func(*server.Options)
		want string
	}{
		{func(o *server.Options) { o.Port = s.Addr().Port + 1 }, "config reload not supported for port"},
		{func(o *server.Options) { o.Host = "127.0.0.2" }, "config reload not supported for host"},
		{func(o *server.Options) { o.MaxPending = 1 << 20 }, "config reload not supported for max_pending"},
		{func(o *server.Options) { o.MaxSubscriptions = 5 }, "config reload not supported for max_subscriptions"},
		{func(o *server.Options) { o.Name = "renamed" }, "config reload not supported for server_name"},
		{func(o *server.Options) {
			o.TLSConfig = &tls.Config{Certificates: []tls.Certificate{testcert.TLSCertificate(cert, key)}}
		}, "config reload not supported for tls"},
		{func(o *server.Options) { o.Auth.Token = "also" }, "cannot be combined"},
		{func(o *server.Options) { o.Auth.NoAuthUser = "new" }, "no_auth_user"},
		{func(o *server.Options) { o.MaxPayload = 2 << 20; o.MaxPending = 1 << 20 }, "max_payload (2097152) cannot be higher than max_pending (1048576)"},
	} {
		opts := loopback(server.Options{Auth: newAuth, Name: s.Name()})
		c.edit(&opts)
		err := s.Reload(opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want %q, got %v", c.want, err)
		}
	}
	if err := tryConnect(t, s, nats.UserInfo("old", "p")); err != nil {
		t.Errorf("old user after refused reloads: %v", err)
	}
	if err := tryConnect(t, s, nats.UserInfo("new", "p")); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("new user after refused reloads: %v", err)
	}
}

// TestReloadLogLevels: debug and trace follow the reloaded
// configuration, and a setting only a restart applies is logged.
func TestReloadLogLevels(t *testing.T) {
	out := &logBuffer{}
	log := server.NewLogger(out, false, false)
	s := startServer(t, server.Options{Logger: log})
	reload(t, s, server.Options{Debug: true, Trace: true, MaxPayload: 4096})
	if !log.Debugging() || !log.Tracing() {
		t.Fatal("debug and trace not on after the reload")
	}
	for _, want := range []string{"Reloaded: debug = true", "Reloaded: trace = true", "[WRN] max_payload changed: restart to apply"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	reload(t, s, server.Options{})
	if log.Debugging() || log.Tracing() {
		t.Fatal("debug and trace still on")
	}
}

// TestReloadConcurrentConnects: reloads racing with clients that
// authenticate (with bcrypt), subscribe and publish leave every
// connection under the last configuration: each open one is refused
// what the last permissions deny. Run with -race.
func TestReloadConcurrentConnects(t *testing.T) {
	hash := bcryptOf(t, "p")
	config := func(deny string) server.Options {
		p, err := auth.NewPermissions(&auth.Rules{Deny: []string{deny}}, &auth.Rules{Deny: []string{deny}})
		if err != nil {
			t.Fatal(err)
		}
		return server.Options{Auth: auth.Config{Users: []auth.User{{Name: "u", Password: hash, Permissions: p}}}}
	}
	s := startServer(t, config("d0"))
	var wg sync.WaitGroup
	conns := make(chan *watched, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc := connectWatched(t, s, nats.UserInfo("u", "p"))
			_, _ = nc.SubscribeSync(fmt.Sprintf("d%d", i%4))
			_ = nc.Publish(fmt.Sprintf("d%d", i%4), nil)
			conns <- nc
		}()
	}
	for i := range 8 {
		reload(t, s, config(fmt.Sprintf("d%d", i%4)))
	}
	wg.Wait()
	close(conns)
	reload(t, s, config("last"))
	for nc := range conns {
		if err := nc.Publish("last", nil); err != nil {
			t.Fatal(err)
		}
		nc.waitError(t, `Permissions Violation for Publish to "last"`)
	}
}
