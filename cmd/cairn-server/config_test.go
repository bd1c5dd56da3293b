package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/crypto/bcrypt"

	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/server"
)

func writeConf(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cairn.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigOverride: the file overrides the defaults, a flag given on
// the command line overrides the file, and a flag's default never does.
func TestConfigOverride(t *testing.T) {
	path := writeConf(t, `
listen: "0.0.0.0:4300"
server_name: fromfile
max_payload: 2KB
max_connections: 7
ping_interval: "30s"
ping_max: 5
write_deadline: "4s"
debug: true
log_file: file.log
pid_file: file.pid
http_port: 8300
jetstream { store_dir: /file/dir, max_mem: 1K, sync_interval: always }
`)
	cases := []struct {
		args  []string
		check func(o *options) bool
	}{
		{[]string{"-c", path}, func(o *options) bool {
			so := o.cfg.Server
			return so.Host == "0.0.0.0" && so.Port == 4300 && so.Name == "fromfile" && so.MaxPayload == 2048 &&
				so.MaxConnections == 7 && so.PingInterval == 30*time.Second && so.MaxPingsOut == 5 &&
				so.WriteDeadline == 4*time.Second && so.Debug && !so.Trace && o.logFile == "file.log" &&
				o.pidFile == "file.pid" && o.cfg.HTTPPort == 8300 && o.cfg.StoreDir == "/file/dir" &&
				o.cfg.MaxMemoryStore == 1000 && o.cfg.SyncAlways && !o.cfg.DisableKV
		}},
		{[]string{"--config", path, "-p", "4400", "-a", "127.0.0.2", "--max_payload=100", "-l", "flag.log",
			"--sync_interval", "5s", "-sd", "/flag/dir", "--debug=false", "-m", "8400"}, func(o *options) bool {
			so := o.cfg.Server
			return so.Host == "127.0.0.2" && so.Port == 4400 && so.MaxPayload == 100 && o.logFile == "flag.log" &&
				o.cfg.SyncInterval == 5*time.Second && !o.cfg.SyncAlways && o.cfg.StoreDir == "/flag/dir" &&
				!so.Debug && o.cfg.HTTPPort == 8400 && so.Name == "fromfile" && so.MaxConnections == 7
		}},
		// Flags before -c win as well: order on the command line is not
		// precedence.
		{[]string{"-n", "flagname", "-c", path}, func(o *options) bool { return o.cfg.Server.Name == "flagname" }},
	}
	for _, c := range cases {
		o, err := parseFlags(c.args, &bytes.Buffer{})
		if err != nil {
			t.Errorf("%v: %v", c.args, err)
			continue
		}
		if !c.check(o) {
			t.Errorf("%v: parsed %+v (log %q)", c.args, o.cfg, o.logFile)
		}
	}

	off := writeConf(t, "jetstream: false\n")
	if o, err := parseFlags([]string{"-c", off}, &bytes.Buffer{}); err != nil || !o.cfg.DisableKV {
		t.Errorf("jetstream: false: %v %+v", err, o)
	}
	if o, err := parseFlags([]string{"-c", off, "-js"}, &bytes.Buffer{}); err != nil || o.cfg.DisableKV {
		t.Errorf("jetstream: false with -js: %v %+v", err, o)
	}
	// Without jetstream in the file KV stays on (Cairn's default) and
	// the sync policy is the default one.
	plain := writeConf(t, "port: 4500\n")
	if o, err := parseFlags([]string{"-c", plain}, &bytes.Buffer{}); err != nil || o.cfg.DisableKV || o.cfg.SyncAlways || o.cfg.Server.Port != 4500 {
		t.Errorf("plain file: %v %+v", err, o)
	}
}

// TestCheckConfig runs -t as a user would: 0 and nats-server's message
// for a valid file, 1 and the error for an invalid one.
func TestCheckConfig(t *testing.T) {
	good := writeConf(t, "port: 4222\nmax_traced_msg_len: 512\n")
	var out bytes.Buffer
	if rc := run([]string{"-t", "-c", good}, &out); rc != 0 ||
		!strings.Contains(out.String(), "cairn-server: configuration file "+good+" is valid (sha256:") ||
		!strings.Contains(out.String(), "max_traced_msg_len: not supported by Cairn, ignored") {
		t.Errorf("valid file: rc %d, output %q", rc, out.String())
	}
	bad := writeConf(t, "port: 4222\nmax_payload: big\n")
	out.Reset()
	if rc := run([]string{"-t", "-c", bad}, &out); rc != 1 || !strings.Contains(out.String(), `cairn.conf:2: max_payload: expected a size, got "big"`) {
		t.Errorf("invalid file: rc %d, output %q", rc, out.String())
	}
	out.Reset()
	if rc := run([]string{"-t"}, &out); rc != 1 || !strings.Contains(out.String(), "must specify [-c, --config]") {
		t.Errorf("-t alone: rc %d, output %q", rc, out.String())
	}
	out.Reset()
	if rc := run([]string{"-c", filepath.Join(t.TempDir(), "missing.conf")}, &out); rc != 1 {
		t.Errorf("missing file: rc %d, output %q", rc, out.String())
	}
	// Security the build does not enforce (default_permissions without
	// a users list, which nats-server applies to no one): -t accepts the
	// file, the server refuses to start with it.
	perms := writeConf(t, "port: -1\nauthorization { user: a, password: b, default_permissions: { publish: \">\" } }\n")
	out.Reset()
	if rc := run([]string{"-t", "-c", perms}, &out); rc != 0 {
		t.Errorf("-t with permissions: rc %d, output %q", rc, out.String())
	}
	out.Reset()
	if rc := run([]string{"-c", perms, "-sd", t.TempDir()}, &out); rc != 1 || !strings.Contains(out.String(), "authorization.default_permissions without a users list: not enforced by this build yet") {
		t.Errorf("start with permissions: rc %d, output %q", rc, out.String())
	}
}

// TestConfigAuthorization: the authorization block and no_auth_user of
// a config file are enforced by the server started from it.
func TestConfigAuthorization(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("b0b"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, conf string
		good, bad  []nats.Option
	}{
		{"user", `authorization { user: alice, password: s3cret, timeout: 1 }`,
			[]nats.Option{nats.UserInfo("alice", "s3cret")}, []nats.Option{nats.UserInfo("alice", "wrong")}},
		{"token", `authorization { token: t0ken }`,
			[]nats.Option{nats.Token("t0ken")}, []nats.Option{nats.Token("nope")}},
		{"users", `authorization { users: [ { user: bob, password: "` + string(hash) + `" } ] }`,
			[]nats.Option{nats.UserInfo("bob", "b0b")}, []nats.Option{nats.UserInfo("bob", "wrong")}},
		{"no_auth_user", "authorization { users: [ { user: anon, password: x } ] }\nno_auth_user: anon",
			nil, []nats.Option{nats.UserInfo("anon", "wrong")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := startFromConf(t, c.conf)
			if c.good != nil {
				nc, err := nats.Connect(d.ClientURL(), c.good...)
				if err != nil {
					t.Fatalf("good credentials refused: %v", err)
				}
				nc.Close()
			} else if c.name == "no_auth_user" {
				nc, err := nats.Connect(d.ClientURL())
				if err != nil {
					t.Fatalf("no credentials with no_auth_user refused: %v", err)
				}
				nc.Close()
			}
			if nc, err := nats.Connect(d.ClientURL(), c.bad...); err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
				if nc != nil {
					nc.Close()
				}
				t.Fatalf("bad credentials: %v, want an authorization violation", err)
			}
		})
	}
}

// startFromConf starts a daemon as cairn-server would from a config file
// with conf in it (on a free loopback port, a temporary store), and stops
// it when t ends.
func startFromConf(t *testing.T, conf string) *daemon.Daemon {
	t.Helper()
	o, err := parseFlags([]string{"-c", writeConf(t, conf), "-a", "127.0.0.1", "-p", "-1", "-sd", t.TempDir()}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if err := refuseUnenforced(o.file); err != nil {
		t.Fatal(err)
	}
	o.cfg.Server.Logger = server.NewLogger(io.Discard, false, false)
	d, err := daemon.Start(o.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Shutdown)
	return d
}
