package monitor_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/server"
	"github.com/cairn-db/cairn/internal/testserver"
)

// varz holds the /varz fields the tests read, under nats-server's
// documented names and types (server/monitor.go Varz).
type varz struct {
	ID               string            `json:"server_id"`
	Name             string            `json:"server_name"`
	Version          string            `json:"version"`
	Proto            int               `json:"proto"`
	GoVersion        string            `json:"go"`
	Host             string            `json:"host"`
	Port             int               `json:"port"`
	AuthRequired     bool              `json:"auth_required"`
	MaxConn          int               `json:"max_connections"`
	PingInterval     time.Duration     `json:"ping_interval"`
	MaxPingsOut      int               `json:"ping_max"`
	HTTPHost         string            `json:"http_host"`
	HTTPPort         int               `json:"http_port"`
	AuthTimeout      float64           `json:"auth_timeout"`
	MaxControlLine   int32             `json:"max_control_line"`
	MaxPayload       int               `json:"max_payload"`
	MaxPending       int64             `json:"max_pending"`
	TLSTimeout       float64           `json:"tls_timeout"`
	WriteDeadline    time.Duration     `json:"write_deadline"`
	Start            time.Time         `json:"start"`
	Now              time.Time         `json:"now"`
	Uptime           string            `json:"uptime"`
	Mem              int64             `json:"mem"`
	Cores            int               `json:"cores"`
	MaxProcs         int               `json:"gomaxprocs"`
	CPU              float64           `json:"cpu"`
	Connections      int               `json:"connections"`
	TotalConnections uint64            `json:"total_connections"`
	Routes           int               `json:"routes"`
	Remotes          int               `json:"remotes"`
	Leafs            int               `json:"leafnodes"`
	InMsgs           int64             `json:"in_msgs"`
	InBytes          int64             `json:"in_bytes"`
	OutMsgs          int64             `json:"out_msgs"`
	OutBytes         int64             `json:"out_bytes"`
	SlowConsumers    int64             `json:"slow_consumers"`
	Subscriptions    uint32            `json:"subscriptions"`
	HTTPReqStats     map[string]uint64 `json:"http_req_stats"`
	ConfigLoadTime   time.Time         `json:"config_load_time"`
	JetStream        struct {
		Config *struct {
			MaxMemory    int64         `json:"max_memory"`
			MaxStore     int64         `json:"max_storage"`
			StoreDir     string        `json:"store_dir"`
			SyncInterval time.Duration `json:"sync_interval"`
		} `json:"config"`
		Stats *struct {
			Memory   uint64 `json:"memory"`
			Store    uint64 `json:"storage"`
			Accounts int    `json:"accounts"`
			API      struct {
				Level  int    `json:"level"`
				Total  uint64 `json:"total"`
				Errors uint64 `json:"errors"`
			} `json:"api"`
		} `json:"stats"`
	} `json:"jetstream"`
}

// TestVarz checks /varz's values after three clients connect, one
// subscribes, another publishes n messages and a KV bucket is written.
func TestVarz(t *testing.T) {
	d := startDaemon(t, func(c *daemon.Config) { c.Server.Name = "varz-test" })
	var conns []*nats.Conn
	for i := 0; i < 3; i++ {
		nc, err := nats.Connect(d.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		conns = append(conns, nc)
	}
	sub, err := conns[1].SubscribeSync("varz.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := conns[1].Flush(); err != nil {
		t.Fatal(err)
	}
	const n, size = 40, 16
	for i := 0; i < n; i++ {
		if err := conns[0].Publish("varz.x", make([]byte, size)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		if _, err := sub.NextMsg(5 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	var v varz
	getJSON(t, d.MonitorURL()+"/varz", http.StatusOK, &v)
	port, _ := strconv.Atoi(d.MonitorURL()[strings.LastIndexByte(d.MonitorURL(), ':')+1:])
	set := d.Server().Settings()
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"server_id", v.ID, d.Server().ID()},
		{"server_name", v.Name, "varz-test"},
		{"version", v.Version, server.CompatVersion},
		{"proto", v.Proto, 1},
		{"go", v.GoVersion, runtime.Version()},
		{"host", v.Host, "127.0.0.1"},
		{"port", v.Port, set.Port},
		{"http_host", v.HTTPHost, "127.0.0.1"},
		{"http_port", v.HTTPPort, port},
		{"max_connections", v.MaxConn, server.DefaultMaxConnections},
		{"ping_interval", v.PingInterval, server.DefaultPingInterval},
		{"ping_max", v.MaxPingsOut, server.DefaultMaxPingsOut},
		{"auth_timeout", v.AuthTimeout, 2.0},
		{"tls_timeout", v.TLSTimeout, 2.0},
		{"max_control_line", v.MaxControlLine, int32(4096)},
		{"max_payload", v.MaxPayload, 1 << 20},
		{"max_pending", v.MaxPending, int64(server.DefaultMaxPending)},
		{"write_deadline", v.WriteDeadline, server.DefaultWriteDeadline},
		{"connections", v.Connections, 3},
		{"total_connections", v.TotalConnections, uint64(3)},
		{"in_msgs", v.InMsgs, int64(n)},
		{"in_bytes", v.InBytes, int64(n * size)},
		{"out_msgs", v.OutMsgs, int64(n)},
		{"out_bytes", v.OutBytes, int64(n * size)},
		{"slow_consumers", v.SlowConsumers, int64(0)},
		{"routes", v.Routes, 0},
		{"cores", v.Cores, runtime.NumCPU()},
		{"gomaxprocs", v.MaxProcs, runtime.GOMAXPROCS(0)},
		{"auth_required", v.AuthRequired, false},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if v.Mem <= 0 || v.CPU < 0 || v.Uptime == "" || v.Start.IsZero() || v.Now.Before(v.Start) || v.ConfigLoadTime.IsZero() {
		t.Errorf("mem %d cpu %v uptime %q start %v now %v config_load_time %v", v.Mem, v.CPU, v.Uptime, v.Start, v.Now, v.ConfigLoadTime)
	}
	if v.Subscriptions < 1 {
		t.Errorf("subscriptions = %d", v.Subscriptions)
	}
	if v.JetStream.Config == nil || v.JetStream.Stats == nil {
		t.Fatalf("no jetstream config or stats")
	}
	if c := v.JetStream.Config; c.MaxMemory <= 0 || c.MaxStore <= 0 || c.StoreDir == "" || c.SyncInterval != daemon.DefaultSyncInterval {
		t.Errorf("jetstream config %+v", *c)
	}

	// A bucket and a put: the API is counted and the storage used.
	js, err := jetstream.New(conns[2])
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "varz"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "k", []byte("value")); err != nil {
		t.Fatal(err)
	}
	v = varz{}
	getJSON(t, d.MonitorURL()+"/varz", http.StatusOK, &v)
	if s := v.JetStream.Stats; s.API.Total == 0 || s.API.Level < 1 || s.Store == 0 || s.Accounts != 1 {
		t.Errorf("jetstream stats %+v", *s)
	}
	if v.InMsgs <= n {
		t.Errorf("in_msgs %d after the KV requests, want more than %d", v.InMsgs, n)
	}
	if got := v.HTTPReqStats["/varz"]; got != 2 {
		t.Errorf("http_req_stats /varz = %d, want 2", got)
	}
}

// TestNoSecrets: with a password or a token configured, and a client
// connected with it, neither appears in /varz or /connz?auth=true (the
// user name may).
func TestNoSecrets(t *testing.T) {
	const pass, token = "s3cret-Passw0rd", "t0ken-S3cret"
	for _, c := range []struct {
		name   string
		edit   func(*daemon.Config)
		opt    nats.Option
		secret string
	}{
		{"password", func(c *daemon.Config) { c.Server.Auth.User, c.Server.Auth.Password = "alice", pass }, nats.UserInfo("alice", pass), pass},
		{"token", func(c *daemon.Config) { c.Server.Auth.Token = token }, nats.Token(token), token},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := startDaemon(t, c.edit)
			nc, err := nats.Connect(d.ClientURL(), c.opt)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			for _, path := range []string{"/varz", "/connz?auth=true&subs=detail"} {
				code, body := get(t, d.MonitorURL()+path)
				if code != http.StatusOK || strings.Contains(string(body), c.secret) {
					t.Fatalf("%s %d:\n%s", path, code, body)
				}
			}
			if _, body := get(t, d.MonitorURL()+"/varz"); !strings.Contains(string(body), `"auth_required": true`) {
				t.Errorf("auth_required not reported:\n%s", body)
			}
			if c.name == "password" {
				if _, body := get(t, d.MonitorURL()+"/connz?auth=true"); !strings.Contains(string(body), `"authorized_user": "alice"`) {
					t.Errorf("authorized_user not reported:\n%s", body)
				}
			}
		})
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestVarzShapeMatchesPeer compares Cairn's /varz with nats-server's:
// every key Cairn emits, at the top level and inside jetstream, must be
// in the peer's answer with the same JSON type. The /healthz answers
// must be the same.
func TestVarzShapeMatchesPeer(t *testing.T) {
	d := startDaemon(t, nil)
	port := freePort(t)
	testserver.StartPeer(t, "-m", strconv.Itoa(port))
	peer := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitFor(t, "the peer's monitor", func() bool {
		resp, err := client.Get(peer + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})

	var ours, theirs map[string]any
	getJSON(t, d.MonitorURL()+"/varz", http.StatusOK, &ours)
	getJSON(t, peer+"/varz", http.StatusOK, &theirs)
	for _, diff := range compareShape("", ours, theirs) {
		t.Error(diff)
	}

	for _, q := range []string{"", "?js-enabled-only=true", "?js-server-only=true", "?stream=s", "?js-enabled-only=x"} {
		oc, ob := get(t, d.MonitorURL()+"/healthz"+q)
		pc, pb := get(t, peer+"/healthz"+q)
		if oc != pc || string(ob) != string(pb) {
			t.Errorf("/healthz%s: cairn %d %s, nats-server %d %s", q, oc, ob, pc, pb)
		}
	}
}

// compareShape lists the keys of ours missing from theirs or of another
// JSON type, recursing into objects (but not into maps keyed by data,
// such as http_req_stats).
func compareShape(path string, ours, theirs map[string]any) []string {
	var diffs []string
	keys := make([]string, 0, len(ours))
	for k := range ours {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := path + k
		tv, ok := theirs[k]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("%s: not in nats-server's answer", p))
			continue
		}
		ov := ours[k]
		if kind(ov) != kind(tv) {
			diffs = append(diffs, fmt.Sprintf("%s: %s here, %s in nats-server's", p, kind(ov), kind(tv)))
			continue
		}
		if om, isMap := ov.(map[string]any); isMap && k != "http_req_stats" {
			diffs = append(diffs, compareShape(p+".", om, tv.(map[string]any))...)
		}
	}
	return diffs
}

// kind is the JSON type of a decoded value.
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}
