package server_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cairn-db/cairn/internal/config"
	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/server"
	"github.com/cairn-db/cairn/internal/testcert"
	"github.com/cairn-db/cairn/internal/testserver"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate, all written as PEM files in dir, and a second CA that
// signed neither.
type testPKI struct {
	dir                                 string
	caFile, otherCAFile                 string
	certFile, keyFile                   string
	clientCertFile, clientKeyFile       string
	otherClientCertFile, otherClientKey string
	serverCert                          tls.Certificate
	caPool                              *x509.CertPool
}

func newPKI(t testing.TB) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir()}
	ca, caKey := testcert.Write(t, p.dir, "ca", nil, nil, true)
	other, otherKey := testcert.Write(t, p.dir, "otherca", nil, nil, true)
	testcert.Write(t, p.dir, "server", ca, caKey, false)
	testcert.Write(t, p.dir, "client", ca, caKey, false)
	testcert.Write(t, p.dir, "otherclient", other, otherKey, false)
	f := func(n string) string { return filepath.Join(p.dir, n) }
	p.caFile, p.otherCAFile = f("ca.pem"), f("otherca.pem")
	p.certFile, p.keyFile = f("server.pem"), f("server-key.pem")
	p.clientCertFile, p.clientKeyFile = f("client.pem"), f("client-key.pem")
	p.otherClientCertFile, p.otherClientKey = f("otherclient.pem"), f("otherclient-key.pem")
	var err error
	if p.serverCert, err = tls.LoadX509KeyPair(p.certFile, p.keyFile); err != nil {
		t.Fatal(err)
	}
	p.caPool = x509.NewCertPool()
	p.caPool.AddCert(ca)
	return p
}

// tlsOptions is a server's options for the PKI, with verify if asked.
func (p *testPKI) tlsOptions(verify bool) server.Options {
	cfg := &tls.Config{Certificates: []tls.Certificate{p.serverCert}}
	if verify {
		cfg.ClientCAs = p.caPool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return server.Options{TLSConfig: cfg}
}

func TestTLSThroughNatsGo(t *testing.T) {
	p := newPKI(t)
	plain := startServer(t, p.tlsOptions(false))
	mutual := startServer(t, p.tlsOptions(true))
	first := p.tlsOptions(false)
	first.TLSHandshakeFirst = true
	tlsFirst := startServer(t, first)
	mixedOpts := p.tlsOptions(false)
	mixedOpts.AllowNonTLS = true
	mixed := startServer(t, mixedOpts)

	cases := []struct {
		name string
		srv  *server.Server
		opts []nats.Option
		ok   bool
	}{
		{"tls", plain, []nats.Option{nats.RootCAs(p.caFile)}, true},
		{"tls wrong CA", plain, []nats.Option{nats.RootCAs(p.otherCAFile)}, false},
		{"tls plain client", plain, nil, false},
		{"mtls with cert", mutual, []nats.Option{nats.RootCAs(p.caFile), nats.ClientCert(p.clientCertFile, p.clientKeyFile)}, true},
		{"mtls without cert", mutual, []nats.Option{nats.RootCAs(p.caFile)}, false},
		{"mtls cert from another CA", mutual, []nats.Option{nats.RootCAs(p.caFile), nats.ClientCert(p.otherClientCertFile, p.otherClientKey)}, false},
		{"handshake first", tlsFirst, []nats.Option{nats.RootCAs(p.caFile), nats.TLSHandshakeFirst()}, true},
		{"handshake first, client INFO first", tlsFirst, []nats.Option{nats.RootCAs(p.caFile)}, false},
		{"allow_non_tls, tls", mixed, []nats.Option{nats.RootCAs(p.caFile), nats.Secure()}, true},
		{"allow_non_tls, plain", mixed, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := append(tc.opts, nats.NoReconnect(), nats.Timeout(3*time.Second))
			nc, err := nats.Connect(tc.srv.ClientURL(), opts...)
			if err == nil {
				// A refused client certificate can surface at the
				// first round trip (TLS 1.3 checks it after the
				// client's handshake is done).
				err = nc.Flush()
				if err == nil && tc.ok {
					sub, _ := nc.SubscribeSync("x")
					_ = nc.Publish("x", []byte("hi"))
					if m, e := sub.NextMsg(3 * time.Second); e != nil || string(m.Data) != "hi" {
						t.Errorf("pub/sub over the connection: %v", e)
					}
				}
				nc.Close()
			}
			if (err == nil) != tc.ok {
				t.Errorf("connect: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// readInfo reads the plain-text INFO line and returns its fields.
func readInfo(t *testing.T, r *bufio.Reader) map[string]any {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "INFO ") {
		t.Fatalf("INFO: %q, %v", line, err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(line[5:]), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTLSInfo(t *testing.T) {
	p := newPKI(t)
	for _, tc := range []struct {
		name                    string
		verify, allowNonTLS     bool
		required, vrfy, availbl any
	}{
		{"tls", false, false, true, nil, nil},
		{"verify", true, false, true, true, nil},
		{"allow_non_tls", false, true, nil, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := p.tlsOptions(tc.verify)
			o.AllowNonTLS = tc.allowNonTLS
			s := startServer(t, o)
			conn, err := net.Dial("tcp", s.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			m := readInfo(t, bufio.NewReader(conn))
			if m["tls_required"] != tc.required || m["tls_verify"] != tc.vrfy || m["tls_available"] != tc.availbl {
				t.Errorf("INFO %v", m)
			}
		})
	}
}

// TestTLSPlainConnect: plain text where a handshake is required is
// answered in plain text and closed.
func TestTLSPlainConnect(t *testing.T) {
	p := newPKI(t)
	s := startServer(t, p.tlsOptions(false))
	conn, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	readInfo(t, r)
	if _, err := conn.Write([]byte("CONNECT {}\r\nPING\r\n")); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("not closed: %v", err)
	}
	if string(rest) != "-ERR 'Secure Connection - TLS Required'\r\n" {
		t.Errorf("got %q", rest)
	}
	waitFor(t, func() bool { return s.NumClients() == 0 })
}

// TestTLSHandshakeTimeout: a client that never completes the handshake
// is closed after the TLS timeout.
func TestTLSHandshakeTimeout(t *testing.T) {
	p := newPKI(t)
	o := p.tlsOptions(false)
	o.TLSTimeout = 300 * time.Millisecond
	s := startServer(t, o)
	first := p.tlsOptions(false)
	first.TLSTimeout = 300 * time.Millisecond
	first.TLSHandshakeFirst = true
	sf := startServer(t, first)
	for _, tc := range []struct {
		name string
		srv  *server.Server
		info bool
		send string
	}{
		{"silent", s, true, ""},
		{"partial record", s, true, "\x16\x03\x01\x02\x00\x01"},
		{"handshake first, silent", sf, false, ""},
		{"handshake first, garbage", sf, false, "\x16\x03\x01"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", tc.srv.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			start := time.Now()
			_ = conn.SetReadDeadline(start.Add(5 * time.Second))
			r := bufio.NewReader(conn)
			if tc.info {
				readInfo(t, r)
			}
			if tc.send != "" {
				if _, err := conn.Write([]byte(tc.send)); err != nil {
					t.Fatal(err)
				}
			}
			rest, err := io.ReadAll(r)
			if err != nil {
				t.Fatalf("not closed within 5s: %v", err)
			}
			if len(rest) != 0 {
				t.Errorf("got %q", rest)
			}
			if d := time.Since(start); d < 250*time.Millisecond || d > 3*time.Second {
				t.Errorf("closed after %v, want the 300ms TLS timeout", d)
			}
		})
	}
}

// TestTLSHandshakeFirstFallback: with a fallback delay a silent client
// gets INFO in plain text and may then do the usual handshake.
func TestTLSHandshakeFirstFallback(t *testing.T) {
	p := newPKI(t)
	o := p.tlsOptions(false)
	o.TLSHandshakeFirst = true
	o.TLSHandshakeFirstFallback = 50 * time.Millisecond
	s := startServer(t, o)
	for _, first := range []bool{true, false} {
		opts := []nats.Option{nats.RootCAs(p.caFile), nats.NoReconnect()}
		if first {
			opts = append(opts, nats.TLSHandshakeFirst())
		}
		nc, err := nats.Connect(s.ClientURL(), opts...)
		if err == nil {
			err = nc.Flush()
			nc.Close()
		}
		if err != nil {
			t.Errorf("handshake first %v: %v", first, err)
		}
	}
}

// TestTLSConfigFile: a tls block with verify, through config.Apply.
func TestTLSConfigFile(t *testing.T) {
	p := newPKI(t)
	conf := filepath.Join(p.dir, "tls.conf")
	if err := os.WriteFile(conf, []byte(`tls {
  cert_file: "`+p.certFile+`"
  key_file: "`+p.keyFile+`"
  ca_file: "`+p.caFile+`"
  verify: true
  timeout: 1
}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startFromFile(t, conf)
	if err := tryConnect(t, s, nats.RootCAs(p.caFile), nats.ClientCert(p.clientCertFile, p.clientKeyFile)); err != nil {
		t.Errorf("mtls: %v", err)
	}
	if err := tryConnect(t, s, nats.RootCAs(p.caFile)); err == nil {
		t.Errorf("mtls without a client certificate: connected")
	}
}

// startFromFile starts a server with the options a config file gives.
func startFromFile(t *testing.T, path string) *server.Server {
	t.Helper()
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var dc daemon.Config
	c.Apply(&dc)
	dc.Server.Port = -1
	return startServer(t, dc.Server)
}

// TestTLSDifferential starts cairn and nats-server with the same config
// file and compares what raw clients see.
func TestTLSDifferential(t *testing.T) {
	p := newPKI(t)
	block := func(extra string) string {
		return "tls {\n  cert_file: \"" + p.certFile + "\"\n  key_file: \"" + p.keyFile + "\"\n  ca_file: \"" + p.caFile + "\"\n" + extra + "}\n"
	}
	files := map[string]string{
		"tls":            block(""),
		"verify":         block("  verify: true\n"),
		"first":          block("  handshake_first: true\n"),
		"allow_non_tls":  block("") + "allow_non_tls: true\n",
		"timeout":        block("  timeout: 0.5\n"),
		"first_fallback": block("  handshake_first: \"auto\"\n"),
	}
	type scenario struct {
		file, name string
		run        func(t *testing.T, addr string) string
		differs    string // why cairn answers otherwise; then cairn, peer
		cairn      string
		peer       string
	}
	clientTLS := func(cert bool, ca string) *tls.Config {
		pool := x509.NewCertPool()
		b, _ := os.ReadFile(ca)
		pool.AppendCertsFromPEM(b)
		c := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
		if cert {
			cc, err := tls.LoadX509KeyPair(p.clientCertFile, p.clientKeyFile)
			if err != nil {
				panic(err)
			}
			c.Certificates = []tls.Certificate{cc}
		}
		return c
	}
	scenarios := []scenario{
		{file: "tls", name: "INFO", run: infoFields},
		{file: "verify", name: "INFO", run: infoFields},
		{file: "allow_non_tls", name: "INFO", run: infoFields},
		{file: "first", name: "silent before handshake", run: firstBytes},
		{file: "first_fallback", name: "INFO after the fallback", run: infoFields},
		{file: "tls", name: "handshake", run: upgrade(clientTLS(false, p.caFile), true)},
		{file: "tls", name: "wrong CA", run: upgrade(clientTLS(false, p.otherCAFile), true)},
		{file: "verify", name: "mtls with cert", run: upgrade(clientTLS(true, p.caFile), true)},
		{file: "verify", name: "mtls without cert", run: upgrade(clientTLS(false, p.caFile), true)},
		{file: "first", name: "tls first", run: upgrade(clientTLS(false, p.caFile), false)},
		{file: "allow_non_tls", name: "plain client", run: plainPing},
		{file: "allow_non_tls", name: "tls client", run: upgrade(clientTLS(false, p.caFile), true)},
		{file: "timeout", name: "silent after INFO", run: silentClose},
		{file: "tls", name: "plain CONNECT", run: plainPing,
			differs: "cairn says why in plain text; nats-server closes silently",
			cairn:   "-ERR 'Secure Connection - TLS Required'\r\n<EOF>", peer: "<EOF>"},
	}
	servers := map[string][2]string{}
	for name, body := range files {
		conf := filepath.Join(p.dir, name+".conf")
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		c := startFromFile(t, conf)
		peer := testserver.StartPeer(t, "-c", conf)
		servers[name] = [2]string{c.Addr().String(), strings.TrimPrefix(peer.URL, "nats://")}
	}
	for _, sc := range scenarios {
		t.Run(sc.file+"/"+sc.name, func(t *testing.T) {
			addrs := servers[sc.file]
			cg, pg := sc.run(t, addrs[0]), sc.run(t, addrs[1])
			if sc.differs != "" {
				if cg != sc.cairn || pg != sc.peer {
					t.Errorf("%s: cairn %q (want %q), nats-server %q (want %q)", sc.differs, cg, sc.cairn, pg, sc.peer)
				}
				return
			}
			if cg != pg {
				t.Errorf("cairn %q, nats-server %q", cg, pg)
			}
		})
	}
}

func dialTCP(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	return conn
}

// infoFields: the TLS fields of the plain-text INFO.
func infoFields(t *testing.T, addr string) string {
	m := readInfo(t, bufio.NewReader(dialTCP(t, addr)))
	b, _ := json.Marshal(map[string]any{"tls_required": m["tls_required"], "tls_verify": m["tls_verify"], "tls_available": m["tls_available"]})
	return string(b)
}

// firstBytes: what the server sends in the first 300ms unprompted.
func firstBytes(t *testing.T, addr string) string {
	conn := dialTCP(t, addr)
	_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	b, _ := io.ReadAll(conn)
	return string(b)
}

// plainPing: CONNECT and PING in plain text after INFO; what comes back.
func plainPing(t *testing.T, addr string) string {
	conn := dialTCP(t, addr)
	r := bufio.NewReader(conn)
	readInfo(t, r)
	_, _ = conn.Write([]byte("CONNECT {\"verbose\":false}\r\nPING\r\n"))
	var b strings.Builder
	for {
		l, err := r.ReadString('\n')
		b.WriteString(l)
		if err != nil {
			return b.String() + "<EOF>"
		}
		if l == "PONG\r\n" {
			return b.String() + "<open>"
		}
	}
}

// silentClose: how the server ends a client silent after INFO.
func silentClose(t *testing.T, addr string) string {
	conn := dialTCP(t, addr)
	r := bufio.NewReader(conn)
	readInfo(t, r)
	start := time.Now()
	b, err := io.ReadAll(r)
	if err != nil {
		return "not closed: " + err.Error()
	}
	d := time.Since(start)
	return string(b) + "<EOF> in time: " + boolStr(d > 300*time.Millisecond && d < 2*time.Second)
}

func boolStr(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// upgrade: a TLS handshake (after INFO when infoFirst), then CONNECT and
// PING over TLS: "ok" on PONG, otherwise "handshake failed" or "closed".
func upgrade(cfg *tls.Config, infoFirst bool) func(t *testing.T, addr string) string {
	return func(t *testing.T, addr string) string {
		conn := dialTCP(t, addr)
		if infoFirst {
			// The INFO line is all the server sends before the
			// handshake; read it byte by byte so nothing is lost.
			var line []byte
			one := make([]byte, 1)
			for !strings.HasSuffix(string(line), "\r\n") {
				if _, err := conn.Read(one); err != nil {
					t.Fatal(err)
				}
				line = append(line, one[0])
			}
		}
		tc := tls.Client(conn, cfg)
		if err := tc.Handshake(); err != nil {
			return "handshake failed"
		}
		r := bufio.NewReader(tc)
		if !infoFirst {
			readInfo(t, r)
		}
		if _, err := tc.Write([]byte("CONNECT {\"verbose\":false}\r\nPING\r\n")); err != nil {
			return "closed"
		}
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return "closed"
			}
			if l == "PONG\r\n" {
				return "ok"
			}
		}
	}
}

// TestTLSAuthTimeout: with TLS the auth timeout defaults to the TLS
// timeout + 1s (nats-server's getDefaultAuthTimeout) and starts after the
// handshake.
func TestTLSAuthTimeout(t *testing.T) {
	p := newPKI(t)
	o := p.tlsOptions(false)
	o.TLSTimeout = 200 * time.Millisecond
	o.Auth.User, o.Auth.Password = "u", "p"
	s := startServer(t, o)
	conn, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	// INFO is all the server sends before the handshake: read it
	// unbuffered so that no TLS bytes are consumed with it.
	line := make([]byte, 0, 512)
	for one := make([]byte, 1); !strings.HasSuffix(string(line), "\r\n"); line = append(line, one[0]) {
		if _, err := conn.Read(one); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(string(line), `"auth_required":true`) {
		t.Errorf("INFO %s", line)
	}
	tc := tls.Client(conn, &tls.Config{RootCAs: p.caPool, ServerName: "127.0.0.1"})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rest, _ := io.ReadAll(tc)
	if string(rest) != "-ERR 'Authentication Timeout'\r\n" {
		t.Errorf("got %q", rest)
	}
	if d := time.Since(start); d < time.Second || d > 3*time.Second {
		t.Errorf("auth timeout after %v, want 1.2s", d)
	}
}

// TestTLSShutdownDuringHandshake: Shutdown closes connections still in
// their handshake and waits for them.
func TestTLSShutdownDuringHandshake(t *testing.T) {
	p := newPKI(t)
	o := p.tlsOptions(false)
	o.TLSTimeout = time.Minute
	s := startServer(t, o)
	conn, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	readInfo(t, r)
	start := time.Now()
	s.Shutdown()
	if _, err := io.ReadAll(r); err != nil {
		t.Fatalf("not closed: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %v", d)
	}
}

// TestTLSHandshakeErrorsLogged: a failed handshake is an error in the
// log; a probe that connects and leaves is only a debug line.
func TestTLSHandshakeErrorsLogged(t *testing.T) {
	p := newPKI(t)
	logs := &logBuffer{}
	o := p.tlsOptions(true)
	o.Logger = server.NewLogger(logs, true, false)
	s := startServer(t, o)
	if err := tryConnect(t, s, nats.RootCAs(p.caFile), nats.ClientCert(p.otherClientCertFile, p.otherClientKey)); err == nil {
		t.Fatal("a foreign client certificate got in")
	}
	probe, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	probe.Close()
	local := probe.LocalAddr().String()
	waitFor(t, func() bool { return strings.Contains(logs.String(), "[DBG] "+local+" - ") })
	out := logs.String()
	if !strings.Contains(out, "[ERR] ") || !strings.Contains(out, "TLS handshake error: ") {
		t.Errorf("no handshake error logged:\n%s", out)
	}
	if strings.Contains(out, "[ERR] "+local) {
		t.Errorf("a probe logged as an error:\n%s", out)
	}
}
