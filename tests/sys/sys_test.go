// Package sys checks issue 12's system requests ($SYS.REQ.SERVER.…)
// through natscli and nats.go against cairn-server and the nats-server
// peer, both started with the same config file
// (examples/system-account.conf): natscli's "server ping", "server
// info", "server check" and "server report jetstream" work for the
// system account's user, other accounts get no answer, bad request
// bodies get nats-server's error, and every answer has the shape of
// nats-server's.
package sys

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/internal/testserver"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testserver.RemoveBinaries()
	os.Exit(code)
}

// conf is the example both servers run.
const conf = "../../examples/system-account.conf"

// Users of conf.
var passwords = map[string]string{"app": "app-secret", "admin": "admin-secret"}

// target is a running server under test.
type target struct {
	kind string // "cairn" or "peer"
	url  string
	proc *testserver.Process
}

var monitorLine = regexp.MustCompile(`Starting http monitor on (\S+:\d+)`)

// monitorURL returns the http:// address cairn-server logged for its
// monitor (-m -1).
func (tg *target) monitorURL(t *testing.T) string {
	t.Helper()
	m := monitorLine.FindStringSubmatch(tg.proc.Log())
	if m == nil {
		t.Fatalf("no monitor address in the log:\n%s", tg.proc.Log())
	}
	return "http://" + m[1]
}

// startCairn runs cairn-server with conf and returns once its start is
// complete: the listener accepts clients a moment before the system
// requests are subscribed (the daemon subscribes them once its monitor
// exists), and "Client URL" is logged after both.
func startCairn(t *testing.T) *target {
	p := testserver.StartCairnProcess(t, t.TempDir(), "-c", conf, "-m", "-1")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Log(), "Client URL: ") {
		if time.Now().After(deadline) {
			t.Fatalf("cairn-server did not finish starting:\n%s", p.Log())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return &target{kind: "cairn", url: p.URL, proc: p}
}

func startPeer(t *testing.T) *target {
	p := testserver.StartPeer(t, "-c", conf)
	return &target{kind: "peer", url: p.URL}
}

// onBoth runs check against cairn-server and nats-server.
func onBoth(t *testing.T, check func(t *testing.T, tg *target)) {
	t.Run("cairn", func(t *testing.T) { check(t, startCairn(t)) })
	t.Run("peer", func(t *testing.T) { check(t, startPeer(t)) })
}

func connect(t *testing.T, url, user string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.UserInfo(user, passwords[user]), nats.MaxReconnects(0))
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// natscli runs the nats CLI as user against url and returns its output
// and exit error.
func natscli(t *testing.T, url, user string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	full := append([]string{"--server", url, "--no-context", "--user", user, "--password", passwords[user], "--timeout", "3s"}, args...)
	cmd := exec.CommandContext(ctx, testserver.MustTool(t, "nats"), full...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "NO_COLOR=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// request sends a request as the system account's user and decodes the
// answer.
func request(t *testing.T, nc *nats.Conn, subj, body string) map[string]any {
	t.Helper()
	msg, err := nc.Request(subj, []byte(body), 3*time.Second)
	if err != nil {
		t.Fatalf("request %s %q: %v", subj, body, err)
	}
	var v map[string]any
	if err := json.Unmarshal(msg.Data, &v); err != nil {
		t.Fatalf("request %s: %v in %s", subj, err, msg.Data)
	}
	return v
}

// serverID returns the id the server announces in INFO.
func serverID(t *testing.T, nc *nats.Conn) string {
	t.Helper()
	id := nc.ConnectedServerId()
	if id == "" {
		t.Fatal("no server id in INFO")
	}
	return id
}

// TestServerPing: "nats server ping" counts one server and prints its
// name.
func TestServerPing(t *testing.T) {
	onBoth(t, func(t *testing.T, tg *target) {
		out, err := natscli(t, tg.url, "admin", "server", "ping", "1")
		if err != nil {
			t.Fatalf("server ping: %v\n%s", err, out)
		}
		if !regexp.MustCompile(`(?m)^sys-example\s+rtt=`).MatchString(out) || !strings.Contains(out, "1 replies") || strings.Contains(out, "Missing") {
			t.Fatalf("server ping output:\n%s", out)
		}
		// A user of another account is told to use the system account.
		out, err = natscli(t, tg.url, "app", "server", "ping", "1")
		if err == nil || !strings.Contains(out, "503 status from $SYS.REQ.SERVER.PING") {
			t.Fatalf("server ping as app: %v\n%s", err, out)
		}
	})
}

// TestServerInfo: "nats server info" prints what /varz says.
func TestServerInfo(t *testing.T) {
	tg := startCairn(t)
	out, err := natscli(t, tg.url, "admin", "server", "info")
	if err != nil {
		t.Fatalf("server info: %v\n%s", err, out)
	}
	resp, err := http.Get(tg.monitorURL(t) + "/varz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var varz struct {
		ID        string `json:"server_id"`
		Name      string `json:"server_name"`
		Version   string `json:"version"`
		Go        string `json:"go"`
		Host      string `json:"host"`
		Port      int    `json:"port"`
		JetStream struct {
			Config struct {
				StoreDir string `json:"store_dir"`
			} `json:"config"`
		} `json:"jetstream"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&varz); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf("Server information for %s (%s)", varz.Name, varz.ID),
		"Version: " + varz.Version,
		"Go Version: " + varz.Go,
		fmt.Sprintf("Host: %s:%d", varz.Host, varz.Port),
		"Auth Required: true",
		"Storage Directory: " + varz.JetStream.Config.StoreDir,
		"Maximum Connections: 65,536",
		"Maximum Payload: 1.0 MiB",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("server info lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
	// By name ($SYS.REQ.SERVER.PING.VARZ with an exact server_name) and
	// by id ($SYS.REQ.SERVER.<id>.VARZ).
	for _, which := range []string{varz.Name, varz.ID} {
		out, err := natscli(t, tg.url, "admin", "server", "info", which)
		if err != nil || !strings.Contains(out, fmt.Sprintf("Server information for %s (%s)", varz.Name, varz.ID)) {
			t.Errorf("server info %s: %v\n%s", which, err, out)
		}
	}
	if out, err := natscli(t, tg.url, "admin", "server", "info", "sys-exam"); err == nil {
		t.Errorf("server info of a name only partly matching: %s", out)
	}
}

// TestServerCheck: "nats server check connection" and "check
// jetstream" report OK (the latter as the JetStream account's user:
// the system account has no JetStream).
func TestServerCheck(t *testing.T) {
	onBoth(t, func(t *testing.T, tg *target) {
		out, err := natscli(t, tg.url, "admin", "server", "check", "connection")
		if err != nil || !strings.HasPrefix(out, "OK Connection") {
			t.Errorf("check connection: %v\n%s", err, out)
		}
		out, err = natscli(t, tg.url, "app", "server", "check", "jetstream")
		if err != nil || !strings.HasPrefix(out, "OK JetStream") {
			t.Errorf("check jetstream: %v\n%s", err, out)
		}
	})
}

// TestNotSystemAccount: the system requests are answered in the system
// account only; a user of another account gets no responders.
func TestNotSystemAccount(t *testing.T) {
	onBoth(t, func(t *testing.T, tg *target) {
		app := connect(t, tg.url, "app")
		id := serverID(t, app)
		for _, subj := range []string{"$SYS.REQ.SERVER.PING", "$SYS.REQ.SERVER.PING.VARZ", "$SYS.REQ.SERVER.PING.STATSZ", "$SYS.REQ.SERVER.PING.IDZ", "$SYS.REQ.SERVER." + id + ".VARZ", "$SYS.REQ.SERVER." + id + ".HEALTHZ"} {
			_, err := app.Request(subj, nil, 3*time.Second)
			if !errors.Is(err, nats.ErrNoResponders) {
				t.Errorf("%s as app: %v, want no responders", subj, err)
			}
		}
		// And it cannot reach them through JetStream either: its
		// account has JetStream, the system requests are not in it.
		js, err := jetstream.New(app)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := js.AccountInfo(ctx); err != nil {
			t.Errorf("app's JetStream: %v", err)
		}
	})
}

// TestUnknownEndpointAndFilters: an endpoint nobody serves gets no
// responders; a request whose filters name another server gets no
// answer at all.
func TestUnknownEndpointAndFilters(t *testing.T) {
	onBoth(t, func(t *testing.T, tg *target) {
		nc := connect(t, tg.url, "admin")
		if _, err := nc.Request("$SYS.REQ.SERVER.PING.NOPE", nil, 3*time.Second); !errors.Is(err, nats.ErrNoResponders) {
			t.Errorf("unknown endpoint: %v, want no responders", err)
		}
		for _, body := range []string{`{"server_name":"other"}`, `{"server_name":"sys","exact_match":true}`, `{"cluster":"c1"}`, `{"tags":["x"]}`} {
			for _, subj := range []string{"$SYS.REQ.SERVER.PING", "$SYS.REQ.SERVER.PING.VARZ"} {
				if m, err := nc.Request(subj, []byte(body), 300*time.Millisecond); !errors.Is(err, nats.ErrTimeout) {
					t.Errorf("%s %s: %v %v, want no answer", subj, body, err, m)
				}
			}
		}
		// A filter that selects it: answered.
		v := request(t, nc, "$SYS.REQ.SERVER.PING.VARZ", `{"server_name":"sys-"}`)
		if v["data"] == nil {
			t.Errorf("VARZ with a matching filter: %v", v)
		}
	})
}

// createBucket creates a KV bucket as the connection's user and puts
// the keys.
func createBucket(t *testing.T, nc *nats.Conn, bucket string, keys ...string) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if _, err := kv.PutString(ctx, k, "v"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestServerReportJetStream: "nats server report jetstream" sums the
// server's JetStream, and with --account the account's streams and
// messages.
func TestServerReportJetStream(t *testing.T) {
	onBoth(t, func(t *testing.T, tg *target) {
		createBucket(t, connect(t, tg.url, "app"), "orders", "k1", "k2")
		createBucket(t, connect(t, tg.url, "app"), "users", "u1")
		for _, args := range [][]string{{}, {"--account", "APP"}} {
			out, err := natscli(t, tg.url, "admin", append([]string{"server", "report", "jetstream"}, args...)...)
			if err != nil {
				t.Fatalf("report jetstream %v: %v\n%s", args, err, out)
			}
			title := "JetStream Summary"
			if len(args) > 0 {
				title = "JetStream Summary for Account APP"
			}
			// Server, cluster, streams 2, consumers 0, messages 3.
			row := regexp.MustCompile(`sys-example\s*│[^│]*│\s*2\s*│\s*0\s*│\s*3\s*│`)
			if !strings.Contains(out, title) || !row.MatchString(out) {
				t.Errorf("report jetstream %v:\n%s", args, out)
			}
		}
	})
}

// TestAccountConnz: any account may ask for its own connections
// ($SYS.REQ.SERVER.PING.CONNZ, $SYS.REQ.ACCOUNT.PING.CONNZ), and the
// system account for any account's connections and subscriptions
// ($SYS.REQ.ACCOUNT.<account>.CONNZ|SUBSZ).
func TestAccountConnz(t *testing.T) {
	onBoth(t, func(t *testing.T, tg *target) {
		app, admin := connect(t, tg.url, "app"), connect(t, tg.url, "admin")
		app2 := connect(t, tg.url, "app")
		if _, err := app2.Subscribe("app.orders.>", func(*nats.Msg) {}); err != nil {
			t.Fatal(err)
		}
		if err := app2.Flush(); err != nil {
			t.Fatal(err)
		}
		type connz struct {
			Data struct {
				NumConns int `json:"num_connections"`
				Conns    []struct {
					User    string `json:"authorized_user"`
					Account string `json:"account"`
				} `json:"connections"`
			} `json:"data"`
		}
		check := func(who *nats.Conn, subj string) {
			t.Helper()
			msg, err := who.Request(subj, []byte(`{"auth":true}`), 3*time.Second)
			if err != nil {
				t.Fatalf("%s: %v", subj, err)
			}
			var c connz
			if err := json.Unmarshal(msg.Data, &c); err != nil {
				t.Fatalf("%s: %v in %s", subj, err, msg.Data)
			}
			if c.Data.NumConns != 2 || len(c.Data.Conns) != 2 {
				t.Errorf("%s: %d connections, want APP's 2: %s", subj, c.Data.NumConns, msg.Data)
			}
			for _, conn := range c.Data.Conns {
				if conn.User != "app" || conn.Account != "APP" {
					t.Errorf("%s: connection of %s in %s listed", subj, conn.User, conn.Account)
				}
			}
		}
		check(app, "$SYS.REQ.SERVER.PING.CONNZ")
		check(app, "$SYS.REQ.ACCOUNT.PING.CONNZ")
		check(admin, "$SYS.REQ.ACCOUNT.APP.CONNZ")
		// Other accounts' endpoints stay out of reach.
		if _, err := app.Request("$SYS.REQ.ACCOUNT.SYS.CONNZ", nil, 3*time.Second); !errors.Is(err, nats.ErrNoResponders) {
			t.Errorf("$SYS.REQ.ACCOUNT.SYS.CONNZ as app: %v, want no responders", err)
		}
		v := request(t, admin, "$SYS.REQ.ACCOUNT.APP.SUBSZ", "")
		data, _ := v["data"].(map[string]any)
		found := false
		list, _ := data["subscriptions_list"].([]any)
		for _, s := range list {
			if sub, _ := s.(map[string]any); sub["subject"] == "app.orders.>" && sub["account"] == "APP" {
				found = true
			}
		}
		if !found {
			t.Errorf("$SYS.REQ.ACCOUNT.APP.SUBSZ lacks app.orders.>: %v", v)
		}
	})
}

// TestStatszEvent: a STATSZ request without a reply subject makes the
// server publish its statistics on $SYS.SERVER.<id>.STATSZ, where
// natscli's "server watch server" listens.
func TestStatszEvent(t *testing.T) {
	onBoth(t, func(t *testing.T, tg *target) {
		nc := connect(t, tg.url, "admin")
		sub, err := nc.SubscribeSync("$SYS.SERVER.*.STATSZ")
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish("$SYS.REQ.SERVER.PING", nil); err != nil {
			t.Fatal(err)
		}
		msg, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("no event: %v", err)
		}
		var v struct {
			Server struct {
				Name string `json:"name"`
			} `json:"server"`
			Stats map[string]any `json:"statsz"`
		}
		if err := json.Unmarshal(msg.Data, &v); err != nil || v.Server.Name != "sys-example" || v.Stats["connections"] == nil {
			t.Errorf("event on %s: %v %s", msg.Subject, err, msg.Data)
		}
		if msg.Subject != "$SYS.SERVER."+serverID(t, nc)+".STATSZ" {
			t.Errorf("event on %s", msg.Subject)
		}
	})
}
