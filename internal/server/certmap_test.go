package server_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cairn-db/cairn/internal/auth"
	"github.com/cairn-db/cairn/internal/config"
	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/server"
	"github.com/cairn-db/cairn/internal/testcert"
	"github.com/cairn-db/cairn/internal/testserver"
)

// certMapConf maps client certificates to the users of its list
// (tls { verify_and_map }): by email, DNS name, URI, DN (exact, with
// other spacing and case of types, reordered), in an account too; the
// password user cannot log in with its password under the map.
const certMapConf = `
tls {
  cert_file: "DIR/server.pem"
  key_file: "DIR/server-key.pem"
  ca_file: "DIR/ca.pem"
  verify_and_map: true
}
authorization {
  users: [
    { user: "alice@example.com" }
    { user: "svc.example.com", permissions: { publish: "svc.>", subscribe: "svc.>" } }
    { user: "spiffe://example.org/bob" }
    { user: "CN=carol,OU=eng,O=Acme,C=US" }
    { user: "cn=dave, o=Acme" }
    { user: "O=Acme,CN=erin" }
    { user: pwuser, password: secret }
  ]
}
accounts {
  A: { users: [ { user: "frank@example.com" } ] }
}
`

// certMapPKI writes the CA, server certificate and one client
// certificate per case, and the config, in a directory; it returns the
// config's path.
func certMapPKI(t *testing.T) string {
	dir := t.TempDir()
	ca, caKey := testcert.Write(t, dir, "ca", nil, nil, true)
	testcert.Write(t, dir, "server", ca, caKey, false)
	leaf := func(name string, edit func(c *x509.Certificate)) {
		testcert.WriteLeaf(t, dir, name, ca, caKey, func(c *x509.Certificate) {
			c.DNSNames = nil
			c.Subject = pkix.Name{CommonName: name}
			edit(c)
		})
	}
	spiffe, _ := url.Parse("spiffe://example.org/bob")
	leaf("alice", func(c *x509.Certificate) { c.EmailAddresses = []string{"nobody@example.com", "alice@example.com"} })
	leaf("svc", func(c *x509.Certificate) { c.DNSNames = []string{"svc.example.com"} })
	leaf("bob", func(c *x509.Certificate) { c.URIs = []*url.URL{spiffe} })
	leaf("carol", func(c *x509.Certificate) {
		c.Subject = pkix.Name{Country: []string{"US"}, Organization: []string{"Acme"}, OrganizationalUnit: []string{"eng"}, CommonName: "carol"}
	})
	leaf("dave", func(c *x509.Certificate) { c.Subject = pkix.Name{Organization: []string{"Acme"}, CommonName: "dave"} })
	leaf("erin", func(c *x509.Certificate) { c.Subject = pkix.Name{Organization: []string{"Acme"}, CommonName: "erin"} })
	leaf("frank", func(c *x509.Certificate) { c.EmailAddresses = []string{"frank@example.com"} })
	leaf("nobody", func(c *x509.Certificate) { c.Subject = pkix.Name{CommonName: "nobody", Organization: []string{"Acme"}} })
	conf := filepath.Join(dir, "map.conf")
	if err := os.WriteFile(conf, []byte(strings.ReplaceAll(certMapConf, "DIR", dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	return conf
}

// certMapOutcome connects with a client certificate (and extra
// options) and describes what happened: the connect error, or what a
// publish to subj and a message round trip on svc.x gave.
func certMapOutcome(t *testing.T, url, dir, cert string, extra ...nats.Option) string {
	errs := make(chan error, 4)
	opts := append([]nats.Option{
		nats.RootCAs(filepath.Join(dir, "ca.pem")), nats.MaxReconnects(0), nats.Timeout(3 * time.Second),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }),
	}, extra...)
	if cert != "" {
		opts = append(opts, nats.ClientCert(filepath.Join(dir, cert+".pem"), filepath.Join(dir, cert+"-key.pem")))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		if errors.Is(err, nats.ErrAuthorization) {
			return "authorization violation"
		}
		// Handshake failures differ in wording between TLS stacks'
		// alerts; what matters is that the client is refused.
		return "refused"
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("svc.x")
	if err != nil {
		return "sub: " + err.Error()
	}
	var out []string
	for _, subj := range []string{"other", "svc.x"} {
		if err := nc.Publish(subj, []byte("hi")); err != nil {
			return "pub: " + err.Error()
		}
	}
	if err := nc.Flush(); err != nil {
		return "flush: " + err.Error()
	}
	if m, err := sub.NextMsg(3 * time.Second); err != nil {
		out = append(out, "no svc.x: "+err.Error())
	} else {
		out = append(out, "got "+m.Subject)
	}
	select {
	case err := <-errs:
		out = append(out, strings.ToLower(err.Error()))
	case <-time.After(100 * time.Millisecond):
	}
	return strings.Join(out, "; ")
}

// TestCertMapDifferential: cairn-server and nats-server, started with
// the same verify_and_map config, map the same certificates to the same
// users and refuse the same clients.
func TestCertMapDifferential(t *testing.T) {
	conf := certMapPKI(t)
	dir := filepath.Dir(conf)
	cairn := startFromFile(t, conf)
	peer := testserver.StartPeer(t, "-c", conf)
	cases := []struct {
		name, cert string
		extra      []nats.Option
		want       string
	}{
		{"email SAN, second of two", "alice", nil, "got svc.x"},
		{"DNS SAN, with permissions", "svc", nil, "got svc.x; nats: permissions violation: permissions violation for publish to \"other\""},
		{"URI SAN", "bob", nil, "got svc.x"},
		{"subject DN", "carol", nil, "got svc.x"},
		{"subject DN, other spacing and case", "dave", nil, "got svc.x"},
		{"subject DN, RDNs reordered", "erin", nil, "got svc.x"},
		{"user of an account", "frank", nil, "got svc.x"},
		{"certificate of no user", "nobody", nil, "authorization violation"},
		{"no password login under the map", "nobody", []nats.Option{nats.UserInfo("pwuser", "secret")}, "authorization violation"},
		{"user name in CONNECT is ignored", "alice", []nats.Option{nats.UserInfo("pwuser", "")}, "got svc.x"},
		{"a password sent must be the mapped user's", "alice", []nats.Option{nats.UserInfo("pwuser", "secret")}, "authorization violation"},
		{"no client certificate", "", nil, "refused"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := certMapOutcome(t, cairn.ClientURL(), dir, c.cert, c.extra...)
			want := certMapOutcome(t, peer.URL, dir, c.cert, c.extra...)
			if got != want {
				t.Errorf("cairn: %q, nats-server: %q", got, want)
			}
			if got != c.want {
				t.Errorf("cairn: %q, want %q", got, c.want)
			}
		})
	}
}

// TestCertMapAccount: a certificate mapped to a user of an account puts
// the connection in that account.
func TestCertMapAccount(t *testing.T) {
	conf := certMapPKI(t)
	dir := filepath.Dir(conf)
	srv := startFromFile(t, conf)
	conn := func(cert string) *nats.Conn {
		nc, err := nats.Connect(srv.ClientURL(), nats.RootCAs(filepath.Join(dir, "ca.pem")),
			nats.ClientCert(filepath.Join(dir, cert+".pem"), filepath.Join(dir, cert+"-key.pem")))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	global, frank := conn("alice"), conn("frank")
	sub, err := global.SubscribeSync("news")
	if err != nil {
		t.Fatal(err)
	}
	if err := global.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := frank.Publish("news", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := frank.Flush(); err != nil {
		t.Fatal(err)
	}
	if m, err := sub.NextMsg(200 * time.Millisecond); err == nil {
		t.Fatalf("a message of account A reached the global account: %v", m)
	}
}

// TestCertMapReload: a reload checks certificate-mapped connections
// again: a user whose permissions changed gets them, a user removed
// from the list is closed, and the new list maps new connections.
func TestCertMapReload(t *testing.T) {
	conf := certMapPKI(t)
	dir := filepath.Dir(conf)
	srv := startFromFile(t, conf)
	certOpts := func(cert string) []nats.Option {
		return []nats.Option{nats.RootCAs(filepath.Join(dir, "ca.pem")),
			nats.ClientCert(filepath.Join(dir, cert+".pem"), filepath.Join(dir, cert+"-key.pem"))}
	}
	alice := connectWatched(t, srv, certOpts("alice")...)
	svc := connectWatched(t, srv, certOpts("svc")...)
	text, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(text), `{ user: "alice@example.com" }`, "", 1)
	edited = strings.Replace(edited, `publish: "svc.>"`, `publish: "other"`, 1)
	if err := os.WriteFile(conf, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	var dc daemon.Config
	c.Apply(&dc)
	reload(t, srv, dc.Server)
	alice.waitClosed(t)
	if err := svc.Publish("svc.x", nil); err != nil {
		t.Fatal(err)
	}
	svc.waitError(t, `Permissions Violation for Publish to "svc.x"`)
	if err := svc.Publish("other", nil); err != nil {
		t.Fatal(err)
	}
	if err := svc.Flush(); err != nil {
		t.Fatalf("svc after the reload: %v", err)
	}
	if _, err := nats.Connect(srv.ClientURL(), append(certOpts("alice"), nats.MaxReconnects(0))...); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("alice after being removed: %v", err)
	}
}

// rawCertOutcome connects over TLS with a client certificate, sends ops
// as the first bytes (no CONNECT), and returns the first line that is
// not INFO: PONG, an -ERR, or "closed".
func rawCertOutcome(t *testing.T, addr, dir, cert, ops string) string {
	t.Helper()
	kp, err := tls.LoadX509KeyPair(filepath.Join(dir, cert+".pem"), filepath.Join(dir, cert+"-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(caPEM)
	raw, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(3 * time.Second))
	if l, err := bufio.NewReader(raw).ReadString('\n'); err != nil || !strings.HasPrefix(l, "INFO ") {
		t.Fatalf("INFO: %q %v", l, err)
	}
	c := tls.Client(raw, &tls.Config{Certificates: []tls.Certificate{kp}, RootCAs: pool, ServerName: "localhost"})
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte(ops)); err != nil {
		return "closed"
	}
	r := bufio.NewReader(c)
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return "closed"
		}
		if l = strings.TrimSpace(l); !strings.HasPrefix(l, "INFO ") {
			return l
		}
	}
}

// TestCertMapNoAuthUserFirstOp: under verify_and_map, a client that
// sends an operation other than CONNECT first is authenticated as a
// CONNECT without credentials would be: by its certificate (nats-server
// runs the same pipeline). It must not become no_auth_user, which would
// let a certificate of no user in, or a mapped user leave its own
// permissions.
func TestCertMapNoAuthUserFirstOp(t *testing.T) {
	conf := certMapPKI(t)
	dir := filepath.Dir(conf)
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, append(b, "no_auth_user: pwuser\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	cairn := startFromFile(t, conf)
	peer := testserver.StartPeer(t, "-c", conf)
	for _, c := range []struct{ cert, ops, want string }{
		{"nobody", "PING\r\n", "-ERR 'Authorization Violation'"},
		{"svc", "PUB other 2\r\nhi\r\nPING\r\n", `-ERR 'Permissions Violation for Publish to "other"'`},
		{"alice", "PING\r\n", "PONG"},
	} {
		got := rawCertOutcome(t, strings.TrimPrefix(cairn.ClientURL(), "nats://"), dir, c.cert, c.ops)
		want := rawCertOutcome(t, strings.TrimPrefix(peer.URL, "nats://"), dir, c.cert, c.ops)
		if got != want || got != c.want {
			t.Errorf("certificate %s, first %q: cairn %q, nats-server %q, want %q", c.cert, c.ops, got, want, c.want)
		}
	}
}

// TestCertMapNeedsVerifiedCertificates: verify_and_map makes a client
// certificate the user, so it must have been verified. A server given
// TLSMap with a TLS config that requests client certificates without
// verifying them (or without TLS) is refused: a self-signed
// certificate naming the admin would otherwise log in as the admin.
func TestCertMapNeedsVerifiedCertificates(t *testing.T) {
	p := newPKI(t)
	users := auth.Config{TLSMap: true, Users: []auth.User{{Name: "CN=admin"}}}
	for name, cfg := range map[string]*tls.Config{
		"no TLS":        nil,
		"no client CA":  {Certificates: []tls.Certificate{p.serverCert}},
		"request":       {Certificates: []tls.Certificate{p.serverCert}, ClientAuth: tls.RequestClientCert},
		"require any":   {Certificates: []tls.Certificate{p.serverCert}, ClientAuth: tls.RequireAnyClientCert},
		"verify if any": {Certificates: []tls.Certificate{p.serverCert}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: p.caPool},
	} {
		opts := server.Options{Auth: users, TLSConfig: cfg, Host: "127.0.0.1", Port: -1, Logger: server.NewLogger(io.Discard, false, false)}
		if s, err := server.New(opts); err == nil {
			if cfg != nil && cfg.ClientAuth == tls.RequireAnyClientCert {
				// Show what it let through.
				if err := s.Start(); err != nil {
					t.Fatal(err)
				}
				dir := t.TempDir()
				selfCA, selfKey := testcert.Write(t, dir, "self", nil, nil, true)
				testcert.WriteLeaf(t, dir, "admin", selfCA, selfKey, func(c *x509.Certificate) {
					c.DNSNames = nil
					c.Subject = pkix.Name{CommonName: "admin"}
				})
				nc, err := nats.Connect(s.ClientURL(), nats.RootCAs(p.caFile), nats.ClientCert(filepath.Join(dir, "admin.pem"), filepath.Join(dir, "admin-key.pem")), nats.MaxReconnects(0))
				if err == nil {
					nc.Close()
					t.Errorf("%s: a self-signed certificate logged in as CN=admin", name)
				}
				s.Shutdown()
			}
			t.Errorf("%s: server.New accepted verify_and_map", name)
		}
		// Reload refuses it too.
		good := p.tlsOptions(true)
		good.Auth, good.Host, good.Port, good.Logger = users, "127.0.0.1", -1, server.NewLogger(io.Discard, false, false)
		s := startServer(t, good)
		opts.TLSConfig = cfg
		if cfg != nil {
			if err := s.Reload(opts); err == nil {
				t.Errorf("%s: Reload accepted verify_and_map", name)
			}
		}
	}
}
