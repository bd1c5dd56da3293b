package daemon

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cairn-db/cairn/internal/auth"
	"github.com/cairn-db/cairn/internal/jsapi"
	"github.com/cairn-db/cairn/internal/server"
)

// startSysDaemon starts a daemon with an account APP (JetStream, user
// app) and the account sysName (user sys, no JetStream).
func startSysDaemon(t *testing.T, sysName, systemAccount string, edit func(*Config)) *Daemon {
	t.Helper()
	cfg := Config{StoreDir: t.TempDir(), SystemAccount: systemAccount}
	cfg.Server.Host, cfg.Server.Port = "127.0.0.1", -1
	cfg.Server.Logger = server.NewLogger(io.Discard, false, false)
	cfg.Accounts = []Account{{Name: "APP", JetStream: &jsapi.AccountLimits{}}, {Name: sysName}}
	cfg.Server.Auth.Users = []auth.User{
		{Name: "app", Password: "app", Account: "APP"},
		{Name: "sys", Password: "sys", Account: sysName},
	}
	if edit != nil {
		edit(&cfg)
	}
	d, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Shutdown)
	return d
}

func connectAs(t *testing.T, d *Daemon, user string) *nats.Conn {
	t.Helper()
	opts := []nats.Option{nats.MaxReconnects(0)}
	if user != "" {
		opts = append(opts, nats.UserInfo(user, user))
	}
	nc, err := nats.Connect(d.ClientURL(), opts...)
	if err != nil {
		t.Fatalf("connect as %q: %v", user, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// sysRequest sends a request and decodes the answer.
func sysRequest(t *testing.T, nc *nats.Conn, subj, body string) map[string]any {
	t.Helper()
	msg, err := nc.Request(subj, []byte(body), 5*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", subj, err)
	}
	var v map[string]any
	if err := json.Unmarshal(msg.Data, &v); err != nil {
		t.Fatalf("%s: %v in %s", subj, err, msg.Data)
	}
	return v
}

// TestSysDefaultAccount: without SystemAccount, the account "$SYS" is
// the system account, as in nats-server; the envelope names the server.
func TestSysDefaultAccount(t *testing.T) {
	d := startSysDaemon(t, "$SYS", "", nil)
	sys := connectAs(t, d, "sys")
	v := sysRequest(t, sys, "$SYS.REQ.SERVER.PING", "")
	si, _ := v["server"].(map[string]any)
	if si["id"] != d.srv.ID() || si["name"] != d.srv.Name() || si["jetstream"] != true || si["flags"] != float64(1) || si["seq"] == nil {
		t.Errorf("server: %v", si)
	}
	if st, _ := v["statsz"].(map[string]any); st == nil || st["connections"] != float64(1) || st["active_servers"] != float64(1) {
		t.Errorf("statsz: %v", v["statsz"])
	}
	// The sequence moves on with each answer.
	next := sysRequest(t, sys, "$SYS.REQ.SERVER."+d.srv.ID()+".VARZ", "")
	if seq := next["server"].(map[string]any)["seq"].(float64); seq <= si["seq"].(float64) {
		t.Errorf("seq %v after %v", seq, si["seq"])
	}
	if data, _ := next["data"].(map[string]any); data["server_id"] != d.srv.ID() {
		t.Errorf("varz: %v", next)
	}
	app := connectAs(t, d, "app")
	if _, err := app.Request("$SYS.REQ.SERVER.PING", nil, 5*time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Errorf("app: %v, want no responders", err)
	}
}

// TestSysNamedAccount: with SystemAccount, the account "$SYS" is an
// ordinary one; a reload may not change the system account.
func TestSysNamedAccount(t *testing.T) {
	d := startSysDaemon(t, "SYS", "SYS", nil)
	sys := connectAs(t, d, "sys")
	if v := sysRequest(t, sys, "$SYS.REQ.SERVER.PING.HEALTHZ", ""); v["data"].(map[string]any)["status"] != "ok" {
		t.Errorf("healthz: %v", v)
	}
	cfg := d.cfg
	cfg.SystemAccount = "APP"
	err := d.Reload(cfg)
	if err == nil || !strings.Contains(err.Error(), "config reload not supported for SystemAccount: old=SYS, new=APP") {
		t.Fatalf("reload: %v", err)
	}
	cfg.SystemAccount = "SYS"
	if err := d.Reload(cfg); err != nil {
		t.Fatalf("reload unchanged: %v", err)
	}
}

// TestSysWithoutAccounts: without accounts nobody is in the system
// account, but a client may still ask for its own account's
// connections, as with nats-server.
func TestSysWithoutAccounts(t *testing.T) {
	cfg := Config{StoreDir: t.TempDir()}
	cfg.Server.Host, cfg.Server.Port = "127.0.0.1", -1
	cfg.Server.Logger = server.NewLogger(io.Discard, false, false)
	d, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown()
	nc := connectAs(t, d, "")
	connectAs(t, d, "")
	for _, subj := range []string{"$SYS.REQ.SERVER.PING", "$SYS.REQ.SERVER.PING.VARZ", "$SYS.REQ.SERVER.PING.JSZ"} {
		if _, err := nc.Request(subj, nil, 5*time.Second); !errors.Is(err, nats.ErrNoResponders) {
			t.Errorf("%s: %v, want no responders", subj, err)
		}
	}
	v := sysRequest(t, nc, "$SYS.REQ.SERVER.PING.CONNZ", "")
	if n := v["data"].(map[string]any)["num_connections"]; n != float64(2) {
		t.Errorf("connz: %v connections, want 2: %v", n, v)
	}
}

// TestSysWithoutKV: without JetStream the server says so: jetstream
// false, JSZ disabled, healthy.
func TestSysWithoutKV(t *testing.T) {
	d := startSysDaemon(t, "$SYS", "", func(c *Config) {
		c.DisableKV = true
		c.Accounts[0].JetStream = nil
	})
	sys := connectAs(t, d, "sys")
	v := sysRequest(t, sys, "$SYS.REQ.SERVER.PING.JSZ", "")
	if v["server"].(map[string]any)["jetstream"] != false || v["data"].(map[string]any)["disabled"] != true {
		t.Errorf("jsz: %v", v)
	}
	if v := sysRequest(t, sys, "$SYS.REQ.SERVER.PING.HEALTHZ", ""); v["data"].(map[string]any)["status"] != "ok" {
		t.Errorf("healthz: %v", v)
	}
	if v := sysRequest(t, sys, "$SYS.REQ.SERVER.PING.STATSZ", ""); v["statsz"].(map[string]any)["jetstream"] != nil {
		t.Errorf("statsz: %v", v)
	}
}

// TestSysShutdownWhileAsked: requests in flight while the daemon shuts
// down neither panic nor hang the shutdown; the requesters see errors,
// not answers after the stores closed.
func TestSysShutdownWhileAsked(t *testing.T) {
	d := startSysDaemon(t, "$SYS", "", nil)
	var wg sync.WaitGroup
	var answered atomic.Int64
	for range 4 {
		nc := connectAs(t, d, "sys")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				if _, err := nc.Request("$SYS.REQ.SERVER.PING.JSZ", []byte(`{"accounts":true,"streams":true}`), 2*time.Second); err != nil {
					return // closed by the shutdown
				}
				answered.Add(1)
			}
		}()
	}
	// Shut down while requests are in flight: once some were answered.
	deadline := time.Now().Add(10 * time.Second)
	for answered.Load() < 8 {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests answered in 10s", answered.Load())
		}
		time.Sleep(time.Millisecond)
	}
	done := make(chan struct{})
	go func() { d.Shutdown(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("shutdown hangs")
	}
	wg.Wait()
}

// TestSysStatszEvents: the statistics are published on
// $SYS.SERVER.<id>.STATSZ periodically while someone listens, and on
// a STATSZ request without a reply subject, at most once a second.
func TestSysStatszEvents(t *testing.T) {
	defer func(old time.Duration) { statszInterval = old }(statszInterval)
	statszInterval = time.Hour
	d := startSysDaemon(t, "$SYS", "", nil)
	sys := connectAs(t, d, "sys")
	sub, err := sys.SubscribeSync("$SYS.SERVER.*.STATSZ")
	if err != nil {
		t.Fatal(err)
	}
	if err := sys.Flush(); err != nil {
		t.Fatal(err)
	}
	next := func() map[string]any {
		t.Helper()
		msg, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("no statsz event: %v", err)
		}
		if msg.Subject != "$SYS.SERVER."+d.srv.ID()+".STATSZ" {
			t.Errorf("event on %s", msg.Subject)
		}
		var v map[string]any
		if err := json.Unmarshal(msg.Data, &v); err != nil || v["statsz"] == nil {
			t.Fatalf("event %s: %v", msg.Data, err)
		}
		return v
	}
	if err := sys.Publish("$SYS.REQ.SERVER.PING", nil); err != nil {
		t.Fatal(err)
	}
	next()
	// A second one within the second: no event.
	if err := sys.Publish("$SYS.REQ.SERVER.PING.STATSZ", nil); err != nil {
		t.Fatal(err)
	}
	if msg, err := sub.NextMsg(300 * time.Millisecond); err == nil {
		t.Errorf("second event within a second: %s", msg.Data)
	}
	// A request with a reply subject is answered there, not broadcast.
	sysRequest(t, sys, "$SYS.REQ.SERVER.PING", "")
	if msg, err := sub.NextMsg(300 * time.Millisecond); err == nil {
		t.Errorf("event for a request with a reply: %s", msg.Data)
	}
	d.Shutdown()

	// Periodic events.
	statszInterval = 20 * time.Millisecond
	d = startSysDaemon(t, "$SYS", "", nil)
	sys = connectAs(t, d, "sys")
	if sub, err = sys.SubscribeSync("$SYS.SERVER.*.STATSZ"); err != nil {
		t.Fatal(err)
	}
	first := next()["server"].(map[string]any)["seq"].(float64)
	if second := next()["server"].(map[string]any)["seq"].(float64); second <= first {
		t.Errorf("seq %v after %v", second, first)
	}
}
