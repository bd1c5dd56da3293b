package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/server"
	"github.com/cairn-db/cairn/internal/testcert"
	"github.com/cairn-db/cairn/internal/testserver"
)

// reloadFixture is a daemon started as cairn-server starts it, from a
// config file and a command line, with its log.
type reloadFixture struct {
	args []string
	conf string
	o    *options
	d    *daemon.Daemon
	log  *server.Logger
	out  *syncBuffer
}

func startReloadFixture(t *testing.T, conf string, flags ...string) *reloadFixture {
	t.Helper()
	f := &reloadFixture{conf: writeConf(t, conf), out: &syncBuffer{}}
	f.args = append([]string{"-c", f.conf, "-a", "127.0.0.1", "-p", "-1", "-sd", t.TempDir()}, flags...)
	o, err := parseFlags(f.args, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	f.log = server.NewLogger(f.out, o.cfg.Server.Debug, o.cfg.Server.Trace)
	o.cfg.Server.Logger = f.log
	f.d, err = daemon.Start(o.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.d.Shutdown)
	f.o = o
	return f
}

// reload rewrites the config file with conf and reloads it as SIGHUP
// does.
func (f *reloadFixture) reload(t *testing.T, conf string) {
	t.Helper()
	if err := os.WriteFile(f.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	f.o = reload(f.args, f.o, f.d, f.log)
}

func (f *reloadFixture) connect(user, pass string) error {
	nc, err := nats.Connect(f.d.ClientURL(), nats.UserInfo(user, pass), nats.NoReconnect())
	if err != nil {
		return err
	}
	defer nc.Close()
	return nc.Flush()
}

// TestReloadFile: SIGHUP's reload reads the file again with the command
// line over it, as at start: users and log levels follow the file, a
// flag given (-D) keeps winning; an invalid file, or a change the
// reload refuses, is logged with nats-server's words and changes
// nothing.
func TestReloadFile(t *testing.T) {
	const before = `authorization { users: [ {user: a, password: pa} ] }
debug: false
`
	f := startReloadFixture(t, before, "-D")
	f.reload(t, `authorization { users: [ {user: b, password: pb} ] }
debug: false
trace: true
`)
	if !strings.Contains(f.out.String(), "Reloaded server configuration (sha256:") {
		t.Fatalf("no reload logged:\n%s", f.out)
	}
	if err := f.connect("b", "pb"); err != nil {
		t.Errorf("new user: %v", err)
	}
	if err := f.connect("a", "pa"); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("removed user: %v", err)
	}
	if !f.log.Debugging() || !f.log.Tracing() {
		t.Errorf("debug %v (the -D flag), trace %v (the file): want both on", f.log.Debugging(), f.log.Tracing())
	}

	for _, c := range []struct{ conf, want string }{
		{"authorization { users: [ {user: c, password: pc} ]\nport: 4223x\n", "Failed to reload server configuration: " + f.conf + ":"},
		{"authorization { users: [ {user: c, password: pc} ] }\nserver_name: other\n", "Failed to reload server configuration: config reload not supported for server_name"},
		{"authorization { users: [ {user: c, password: pc} ] }\nmax_pending: 1MB\n", "Failed to reload server configuration: config reload not supported for max_pending"},
		{"authorization { users: [ {user: c, password: pc} ] }\naccounts { A: { users: [ {user: x, password: x} ] } }\n", "Failed to reload server configuration: config reload not supported for accounts"},
	} {
		f.reload(t, c.conf)
		if !strings.Contains(f.out.String(), c.want) {
			t.Errorf("log lacks %q:\n%s", c.want, f.out)
		}
		if err := f.connect("b", "pb"); err != nil {
			t.Errorf("user of the config in force after a failed reload: %v", err)
		}
		if err := f.connect("c", "pc"); err == nil {
			t.Errorf("user of a refused config let in")
		}
	}
}

// TestReloadTLSFile: a certificate renewed in place (same files) is
// picked up by the reload: a new connection sees it, one opened before
// keeps working.
func TestReloadTLSFile(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := testcert.Write(t, dir, "ca", nil, nil, true)
	first, _ := testcert.Write(t, dir, "server", ca, caKey, false)
	conf := fmt.Sprintf("tls { cert_file: %q, key_file: %q }\n", filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"))
	f := startReloadFixture(t, conf)
	serial := func(nc *nats.Conn) string {
		t.Helper()
		cs, err := nc.TLSConnectionState()
		if err != nil {
			t.Fatal(err)
		}
		return cs.PeerCertificates[0].SerialNumber.String()
	}
	open, err := nats.Connect(f.d.ClientURL(), nats.RootCAs(filepath.Join(dir, "ca.pem")), nats.NoReconnect())
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	renewed, _ := testcert.Write(t, dir, "server", ca, caKey, false)
	f.reload(t, conf)
	nc, err := nats.Connect(f.d.ClientURL(), nats.RootCAs(filepath.Join(dir, "ca.pem")), nats.NoReconnect())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if got := serial(nc); got != renewed.SerialNumber.String() {
		t.Errorf("new connection: certificate %s, want the renewed %s\n%s", got, renewed.SerialNumber, f.out)
	}
	if got := serial(open); got != first.SerialNumber.String() {
		t.Errorf("open connection: certificate %s, want %s", got, first.SerialNumber)
	}
	if err := open.Flush(); err != nil {
		t.Errorf("open connection after the reload: %v", err)
	}
}

// TestReloadWithoutConfigFile: SIGHUP without -c changes nothing and
// says why, in nats-server's words.
func TestReloadWithoutConfigFile(t *testing.T) {
	out := &syncBuffer{}
	log := server.NewLogger(out, false, false)
	o := &options{}
	if got := reload(nil, o, nil, log); got != o {
		t.Fatal("options replaced")
	}
	if want := "Failed to reload server configuration: can only reload config when a file is provided using -c or --config"; !strings.Contains(out.String(), want) {
		t.Fatalf("log %q lacks %q", out, want)
	}
}

// signalCmd runs cairn-server --signal with args and returns its exit
// status and standard error.
func signalCmd(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(testserver.CairnBinary(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), stderr.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, stderr.String()
}

// waitLog fails t unless p logs want n times within 10s.
func waitLog(t *testing.T, p *testserver.Process, want string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(p.Log(), want) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%q not logged %d times:\n%s", want, n, p.Log())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSignalReload: cairn-server --signal reload=<pid>, =<pid file>, and
// with the pid file of -P, makes a running cairn-server re-read its
// config file; bad commands and targets fail with status 1.
func TestSignalReload(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "cairn.conf")
	pidFile := filepath.Join(dir, "cairn.pid")
	write := func(user string) {
		t.Helper()
		text := fmt.Sprintf("authorization { users: [ {user: %s, password: p} ] }\n", user)
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	connect := func(p *testserver.Process, user string) error {
		nc, err := nats.Connect(p.URL, nats.UserInfo(user, "p"), nats.NoReconnect())
		if err != nil {
			return err
		}
		defer nc.Close()
		return nc.Flush()
	}
	write("u1")
	p := testserver.StartCairnProcess(t, filepath.Join(dir, "data"), "-c", conf, "-P", pidFile)
	if err := connect(p, "u1"); err != nil {
		t.Fatal(err)
	}
	for i, target := range [][]string{
		{"--signal", "reload=" + strconv.Itoa(p.Pid())},
		{"-sl", "reload=" + pidFile},
		{"--signal", "reload", "-P", pidFile},
		{"--signal", "reload", "-c", conf}, // no pid_file in it: the one cairn-server running
	} {
		user := fmt.Sprintf("u%d", i+2)
		write(user)
		if i == 3 {
			if out, _ := exec.Command("pgrep", "-x", processName).Output(); len(strings.Fields(string(out))) != 1 {
				t.Log("skipping the pgrep case: other cairn-server processes are running")
				continue
			}
		}
		if code, stderr := signalCmd(t, target...); code != 0 {
			t.Fatalf("%v: exit %d: %s", target, code, stderr)
		}
		waitLog(t, p, "Reloaded server configuration", i+1)
		if err := connect(p, user); err != nil {
			t.Errorf("%v: new user: %v", target, err)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--signal", "reload=999999999"}, "no such process"},
		{[]string{"--signal", "reload=x"}, "invalid pid: x"},
		{[]string{"--signal", "bogus=1"}, `unknown signal "bogus"`},
		{[]string{"--signal", "ldm=x"}, "invalid pid: x"},
		{[]string{"--signal", "reload=1=2"}, "invalid signal parameters"},
		{[]string{"--signal", "reload", "-P", filepath.Join(dir, "missing.pid")}, "cannot read pid file"},
	} {
		code, stderr := signalCmd(t, c.args...)
		if code != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, %q; want 1 and %q", c.args, code, stderr, c.want)
		}
	}
	if code, stderr := signalCmd(t, "--signal", "quit="+strconv.Itoa(p.Pid())); code != 0 {
		t.Fatalf("quit: exit %d: %s", code, stderr)
	}
	waitLog(t, p, "Server Exiting", 1)
}

// reloadObservation is what a nats.go client sees of its connection
// when the server reloads: the errors its handler received and whether
// it was closed, with the client reconnecting or not.
func observeReload(t *testing.T, url string, pid int, conf, edited string) string {
	t.Helper()
	type conn struct {
		name string
		nc   *nats.Conn
		sub  *nats.Subscription
		mu   sync.Mutex
		errs []string
		done chan struct{}
	}
	var conns []*conn
	for _, spec := range []struct {
		name, user, pass string
		reconnect        bool
	}{
		{"removed", "b", "pb", false},
		{"removed+reconnect", "b", "pb", true},
		{"password", "a", "pa", false},
		{"password+reconnect", "a", "pa", true},
		{"permissions", "t", "pt", false},
	} {
		c := &conn{name: spec.name, done: make(chan struct{})}
		opts := []nats.Option{nats.UserInfo(spec.user, spec.pass),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
				c.mu.Lock()
				c.errs = append(c.errs, err.Error())
				c.mu.Unlock()
			}),
			nats.ClosedHandler(func(*nats.Conn) { close(c.done) })}
		if spec.reconnect {
			opts = append(opts, nats.ReconnectWait(20*time.Millisecond), nats.MaxReconnects(20))
		} else {
			opts = append(opts, nats.NoReconnect())
		}
		nc, err := nats.Connect(url, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		c.nc = nc
		if c.sub, err = nc.SubscribeSync("foo"); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	if err := os.WriteFile(conf, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, c := range conns {
		closed := "open"
		select {
		case <-c.done:
			closed = "closed"
		case <-time.After(3 * time.Second):
		}
		if closed == "open" {
			// Let the -ERR for the subscription arrive.
			deadline := time.Now().Add(3 * time.Second)
			for c.sub.IsValid() && time.Now().Before(deadline) {
				c.mu.Lock()
				n := len(c.errs)
				c.mu.Unlock()
				if n > 0 {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		c.mu.Lock()
		fmt.Fprintf(&b, "%s: %s, errors %q, last error %v\n", c.name, closed, c.errs, c.nc.LastError())
		c.mu.Unlock()
	}
	return b.String()
}

// TestReloadDifferential: after the same edit of the config file and a
// SIGHUP, nats.go clients of cairn-server and of nats-server 2.15.2 see
// the same: a removed user's connection closed without an error (a
// reconnecting client is then refused until it gives up); a changed
// password's connection answered 'Authorization Violation' and closed; a
// subscription the new permissions forbid refused on an open connection.
func TestReloadDifferential(t *testing.T) {
	const before = `authorization { users: [
  {user: a, password: pa}
  {user: b, password: pb}
  {user: t, password: pt}
] }
`
	const after = `authorization { users: [
  {user: a, password: pa2}
  {user: t, password: pt, permissions: {subscribe: "bar"}}
] }
`
	run := func(kind string) string {
		dir := t.TempDir()
		conf := filepath.Join(dir, "server.conf")
		if err := os.WriteFile(conf, []byte(before), 0o644); err != nil {
			t.Fatal(err)
		}
		var url string
		var pid int
		if kind == "peer" {
			s := testserver.StartPeer(t, "-c", conf)
			url, pid = s.URL, s.Pid()
		} else {
			p := testserver.StartCairnProcess(t, filepath.Join(dir, "data"), "-c", conf)
			url, pid = p.URL, p.Pid()
		}
		return observeReload(t, url, pid, conf, after)
	}
	cairn, peer := run("cairn"), run("peer")
	if cairn != peer {
		t.Errorf("cairn-server:\n%s\nnats-server:\n%s", cairn, peer)
	}
	t.Logf("both:\n%s", cairn)
}
