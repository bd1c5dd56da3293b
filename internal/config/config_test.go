package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// load writes text as cairn.conf (and any extra files) in a temporary
// directory and loads it.
func load(t *testing.T, text string, extra map[string]string) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	for name, body := range extra {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "cairn.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return Load(path)
}

func TestKeys(t *testing.T) {
	t.Setenv("CAIRN_TEST_PORT", "4333")
	t.Setenv("CAIRN_TEST_SIZE", "2MB")
	yes, no := true, false
	tests := []struct {
		name, text string
		want       func(c *Config) any
		wantVal    any
	}{
		{"listen port", "listen: 4223", func(c *Config) any { return [2]any{c.Host, c.Port} }, [2]any{"", 4223}},
		{"listen host:port", "listen: \"0.0.0.0:4223\"", func(c *Config) any { return [2]any{c.Host, c.Port} }, [2]any{"0.0.0.0", 4223}},
		{"listen ipv6", "listen: \"[::1]:4223\"", func(c *Config) any { return [2]any{c.Host, c.Port} }, [2]any{"::1", 4223}},
		{"host", "host: 10.0.0.1", func(c *Config) any { return c.Host }, "10.0.0.1"},
		{"net alias", "net: 10.0.0.2", func(c *Config) any { return c.Host }, "10.0.0.2"},
		{"port", "port = 4224", func(c *Config) any { return c.Port }, 4224},
		{"port free", "port: -1", func(c *Config) any { return c.Port }, -1},
		{"server_name", "server_name: n1", func(c *Config) any { return c.ServerName }, "n1"},
		{"max_payload k", "max_payload: 2k", func(c *Config) any { return c.MaxPayload }, 2000},
		{"max_payload kb", "max_payload: 2KB", func(c *Config) any { return c.MaxPayload }, 2048},
		{"max_payload mi", "max_payload: 1Mi", func(c *Config) any { return c.MaxPayload }, 1 << 20},
		{"max_control_line", "max_control_line: 8KB", func(c *Config) any { return c.MaxControlLine }, 8192},
		{"max_pending", "max_pending: 32MB", func(c *Config) any { return c.MaxPending }, 32 << 20},
		{"max_connections", "max_connections: 10", func(c *Config) any { return c.MaxConnections }, 10},
		{"max_conn alias", "max_conn: 11", func(c *Config) any { return c.MaxConnections }, 11},
		{"max_connections 0 no limit", "max_connections: 0", func(c *Config) any { return c.MaxConnections }, NoLimit},
		{"max_subscriptions", "max_subscriptions: 5", func(c *Config) any { return c.MaxSubscriptions }, 5},
		{"max_subs alias", "max_subs: 6", func(c *Config) any { return c.MaxSubscriptions }, 6},
		{"ping_interval", "ping_interval: \"30s\"", func(c *Config) any { return c.PingInterval }, 30 * time.Second},
		{"ping_interval seconds", "ping_interval: 20", func(c *Config) any { return c.PingInterval }, 20 * time.Second},
		{"ping_max", "ping_max: 4", func(c *Config) any { return c.PingMax }, 4},
		{"write_deadline", "write_deadline: \"3s\"", func(c *Config) any { return c.WriteDeadline }, 3 * time.Second},
		{"debug trace", "debug: true\ntrace: on", func(c *Config) any { return [2]bool{c.Logging.Debug, c.Logging.Trace} }, [2]bool{true, true}},
		{"logtime", "logtime: false", func(c *Config) any { return *c.Logging.Logtime }, no},
		{"logtime true", "logtime: yes", func(c *Config) any { return *c.Logging.Logtime }, yes},
		{"log_file", "log_file: /tmp/x.log", func(c *Config) any { return c.Logging.LogFile }, "/tmp/x.log"},
		{"logfile alias", "logfile: a.log", func(c *Config) any { return c.Logging.LogFile }, "a.log"},
		{"pid_file", "pid_file: a.pid", func(c *Config) any { return c.Logging.PidFile }, "a.pid"},
		{"pidfile alias", "pidfile: b.pid", func(c *Config) any { return c.Logging.PidFile }, "b.pid"},
		{"http", "http: \"127.0.0.1:8222\"", func(c *Config) any { return [2]any{c.HTTPHost, c.HTTPPort} }, [2]any{"127.0.0.1", 8222}},
		{"http_port", "http_port: 8222", func(c *Config) any { return c.HTTPPort }, 8222},
		{"monitor_port alias", "monitor_port: 8223", func(c *Config) any { return c.HTTPPort }, 8223},
		{"https_port", "https_port: 8443", func(c *Config) any { return c.HTTPSPort }, 8443},
		{"jetstream true", "jetstream: true", func(c *Config) any { return *c.JetStream }, JetStream{Enabled: true}},
		{"jetstream enabled", "jetstream: enabled", func(c *Config) any { return *c.JetStream }, JetStream{Enabled: true}},
		{"jetstream false", "jetstream: false", func(c *Config) any { return *c.JetStream }, JetStream{}},
		{"jetstream disabled", "jetstream: \"disabled\"", func(c *Config) any { return *c.JetStream }, JetStream{}},
		{"jetstream map", "jetstream { store_dir: /d, max_memory_store: 1GB, max_file_store: 2G, sync_interval: \"1m\" }",
			func(c *Config) any { return *c.JetStream },
			JetStream{Enabled: true, StoreDir: "/d", MaxMemoryStore: 1 << 30, MaxFileStore: 2e9, SyncInterval: time.Minute}},
		{"jetstream aliases", "jetstream { store: /e, max_mem: \"1K\", max_file: -1, sync: always }",
			func(c *Config) any { return *c.JetStream },
			JetStream{Enabled: true, StoreDir: "/e", MaxMemoryStore: 1024, MaxFileStore: -1, SyncAlways: true}},
		{"jetstream storedir", "jetstream { storedir: /f, max_mem_store: 5 }", func(c *Config) any { return *c.JetStream }, JetStream{Enabled: true, StoreDir: "/f", MaxMemoryStore: 5}},
		{"store_dir top level", "store_dir: /g", func(c *Config) any { return c.JetStream.StoreDir }, "/g"},
		{"jetstream enabled false in map", "jetstream { enabled: false }", func(c *Config) any { return c.JetStream.Enabled }, false},
		{"variable", "P: 4300\nport: $P", func(c *Config) any { return [2]any{c.Port, len(c.Warnings)} }, [2]any{4300, 0}},
		{"block variable", "jetstream { D: /v, store_dir: $D }", func(c *Config) any { return c.JetStream.StoreDir }, "/v"},
		{"env", "port: $CAIRN_TEST_PORT", func(c *Config) any { return c.Port }, 4333},
		{"env size", "max_payload: $CAIRN_TEST_SIZE", func(c *Config) any { return c.MaxPayload }, 2 << 20},
		{"include", "include \"inc.conf\"\nport: 1", func(c *Config) any { return [2]any{c.Port, c.MaxPayload} }, [2]any{1, 1000}},
		{"case", "Max_Payload: 7", func(c *Config) any { return c.MaxPayload }, 7},
		{"variable in other case", "PORT: 4333\nport: $PORT\nmax_payload: 2MB", func(c *Config) any { return [3]any{c.Port, c.MaxPayload, len(c.Warnings)} }, [3]any{4333, 2 << 20, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var extra map[string]string
			if strings.Contains(tt.text, "inc.conf") {
				extra = map[string]string{"inc.conf": "max_payload: 1k\n"}
			}
			c, err := load(t, tt.text, extra)
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.want(c); !reflect.DeepEqual(got, tt.wantVal) {
				t.Errorf("got %#v, want %#v", got, tt.wantVal)
			}
		})
	}
}

func TestInvalid(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"size word", "port: 1\n\nmax_payload: big", `cairn.conf:3: max_payload: expected a size, got "big"`},
		{"size negative", "max_payload: -1", `cairn.conf:1: max_payload: size -1 out of range`},
		{"size too big", "max_payload: 4GB", `cairn.conf:1: max_payload: size 4294967296 out of range`},
		{"port string", "port: abc", `cairn.conf:1: port: expected an integer, got "abc"`},
		{"port range", "port: 70000", `cairn.conf:1: port: port 70000 out of range`},
		{"listen bad", "listen: \"nohost\"", `cairn.conf:1: listen: expected a port or host:port`},
		{"listen port", "listen: \"h:x\"", `cairn.conf:1: listen: could not parse port`},
		{"server_name spaces", "server_name: \"a b\"", `server_name: server name cannot contain spaces`},
		{"debug", "debug: 1", `cairn.conf:1: debug: expected true or false, got 1`},
		{"ping_interval", "ping_interval: \"soon\"", `cairn.conf:1: ping_interval: expected a duration`},
		{"write_deadline", "\nwrite_deadline: true", `cairn.conf:2: write_deadline: expected a duration`},
		{"jetstream string", "jetstream: maybe", `jetstream: expected 'enabled' or 'disabled', got "maybe"`},
		{"jetstream size", "jetstream {\n  max_mem: lots\n}", `cairn.conf:2: jetstream.max_mem: expected a size such as 1G, got "lots"`},
		{"jetstream sync", "jetstream {\n sync_interval: never\n}", `cairn.conf:2: jetstream.sync_interval: expected a duration`},
		{"include line", "include \"inc.conf\"", `inc.conf:2: max_pending: expected a size`},
		{"missing variable", "port: $CAIRN_NOT_SET_ANYWHERE", `variable reference for 'CAIRN_NOT_SET_ANYWHERE'`},
		{"syntax", "port: {", `cairn.conf`},
		{"log_file", "log_file: 3", `cairn.conf:1: log_file: expected a string, got 3`},
		{"store_dir twice", "jetstream { store_dir: /a }\nstore_dir: /b", `cairn.conf:2: store_dir: store_dir given both here and in jetstream`},
		{"twice", "port: 1\nPort: 2", `cairn.conf:2: port: given twice`},
		{"http_port", "http_port: x", `cairn.conf:1: http_port: expected an integer`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.text, map[string]string{"inc.conf": "# x\nmax_pending: huge\n"})
			if err == nil {
				t.Fatalf("loaded %+v, want error %q", c, tt.want)
			}
			if c != nil {
				t.Errorf("config %+v with error", c)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want %q", err, tt.want)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	c, err := load(t, "port: 1\nmax_traced_msg_len: 512\njetstream { domain: hub }\ncluster { name: c, listen: 6222, compression: off }\nleafnodes { port: 7422 }\nping_interval: 30\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"cairn.conf:2: max_traced_msg_len: not supported by Cairn, ignored",
		"cairn.conf:3: jetstream.domain: not supported by Cairn, ignored",
		"cairn.conf:4: cluster.compression: not supported by Cairn, ignored",
		"cairn.conf:5: leafnodes: not supported by Cairn, ignored",
		"cairn.conf:6: ping_interval: a bare number is seconds",
	}
	all := strings.Join(c.Warnings, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("warnings\n%s\nlack %q", all, w)
		}
	}
	if len(c.Warnings) != len(want) {
		t.Errorf("%d warnings, want %d:\n%s", len(c.Warnings), len(want), all)
	}
	if c.Cluster == nil || c.Cluster.Name != "c" || c.Cluster.Port != 6222 {
		t.Errorf("cluster %+v", c.Cluster)
	}
}
