package config

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/testcert"
	"github.com/cairn-db/cairn/internal/testserver"
)

// TestExamples loads every file in examples/ and checks what the two
// documented ones mean.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.conf")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	loaded := map[string]*Config{}
	for _, f := range files {
		c, err := Load(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(c.Warnings) > 0 {
			t.Errorf("%s: warnings %q", f, c.Warnings)
		}
		loaded[filepath.Base(f)] = c
	}
	var dc daemon.Config
	loaded["basic.conf"].Apply(&dc)
	if so := dc.Server; so.Host != "0.0.0.0" || so.Port != 4222 || so.Name != "cairn-1" || so.MaxPayload != 1<<20 ||
		so.MaxConnections != 10000 || so.PingInterval != 2*time.Minute || so.WriteDeadline != 10*time.Second || dc.DisableKV {
		t.Errorf("basic.conf: %+v", dc)
	}
	dc = daemon.Config{}
	loaded["jetstream.conf"].Apply(&dc)
	if dc.StoreDir != "./cairn-data" || dc.MaxMemoryStore != 1<<30 || dc.MaxFileStore != 10e9 || !dc.SyncAlways ||
		dc.HTTPPort != 8222 || dc.Server.MaxSubscriptions != 1000 || dc.Server.MaxPayload != 8<<20 {
		t.Errorf("jetstream.conf: %+v", dc)
	}
}

// TestPeerAgrees runs nats-server -t on the same files as Load: both
// must accept or both refuse. The files use only keys Cairn supports
// (nats-server refuses a key it does not know; Cairn only warns), and
// security keys Cairn refuses are left out: there the two differ by
// design.
func TestPeerAgrees(t *testing.T) {
	peer := testserver.PeerPath()
	if peer == "" {
		t.Skip("no nats-server peer (scripts/install-tools builds it)")
	}
	dir := t.TempDir()
	cert, key := testcert.SelfSigned(t, dir, "cert")
	files := map[string]string{
		"ok-basic":    "listen: 4222\nserver_name: a\nmax_payload: 1MB\nmax_pending: 10MB\nmax_control_line: 4KB\nmax_connections: 10\nmax_subscriptions: 0\nping_interval: \"1m\"\nping_max: 3\nwrite_deadline: \"2s\"",
		"ok-logging":  "debug: true\ntrace: false\nlogtime: true\nlog_file: \"/tmp/x.log\"\npid_file: \"/tmp/x.pid\"",
		"ok-monitor":  "http: \"127.0.0.1:8222\"\nhttps_port: 8443\nmonitor_port: 8224",
		"ok-js":       "jetstream { store_dir: \"" + dir + "\", max_mem: 1G, max_file: \"2G\", sync_interval: always }",
		"ok-js-str":   "jetstream: enabled",
		"ok-vars":     "P: 4333\nport: $P\nS: 2MB\nmax_payload: $S",
		"ok-env":      "port: $CAIRN_PEER_TEST_PORT",
		"ok-include":  "include \"inc.conf\"",
		"ok-auth":     "authorization { timeout: 2, users: [ { user: a, password: b, permissions: { publish: { allow: [\"x.>\"], deny: \"y\" }, subscribe: \"_INBOX.>\", allow_responses: true } } ] }\nno_auth_user: a",
		"ok-token":    "authorization { token: \"s3cret\" }",
		"ok-accounts": "accounts { A: { users: [ { user: a, password: b } ], jetstream: enabled }, SYS: { users: [ { user: s, password: t } ] } }\nsystem_account: SYS",
		"ok-tls":      "tls { cert_file: \"" + cert + "\", key_file: \"" + key + "\", ca_file: \"" + cert + "\", verify: true, timeout: 2 }",
		"ok-cluster":  "cluster { name: c, listen: \"127.0.0.1:6222\", routes: [\"nats://127.0.0.1:6223\"], authorization { user: r, password: p } }",

		"bad-payload":    "max_payload: big",
		"bad-port":       "port: \"x\"",
		"bad-listen":     "listen: \"nohostport\"",
		"bad-name":       "server_name: \"a b\"",
		"bad-js":         "jetstream: maybe",
		"bad-js-size":    "jetstream { max_mem: \"lots\" }",
		"bad-duration":   "ping_interval: \"soon\"",
		"bad-syntax":     "port: {",
		"bad-var":        "port: $CAIRN_PEER_TEST_UNSET",
		"bad-user-token": "authorization { user: a, password: b, token: c }",
		"bad-user-users": "authorization { user: a, password: b, users: [] }",
		"bad-dup-user":   "authorization { users: [ { user: a, password: b } ] }\naccounts { A { users: [ { user: a, password: c } ] } }",
		// nats-server checks no_auth_user only when it starts (and then
		// refuses); Cairn refuses it at load, so -t already says so.
		"strict-noauth":   "no_auth_user: ghost",
		"bad-tls-missing": "tls { cert_file: \"/nonexistent/cert.pem\", key_file: \"/nonexistent/key.pem\" }",
		"bad-tls-pair":    "tls { cert_file: \"" + cert + "\", key_file: \"" + cert + "\" }",
		"bad-max-line":    "max_control_line: 4GB",
		"bad-store-twice": "jetstream { store_dir: \"/a\" }\nstore_dir: \"/b\"",
	}
	if err := os.WriteFile(filepath.Join(dir, "inc.conf"), []byte("max_payload: 64KB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CAIRN_PEER_TEST_PORT", "4334")
	for name, text := range files {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".conf")
			if err := os.WriteFile(path, []byte(text+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := Load(path)
			out, perr := exec.Command(peer, "-t", "-c", path).CombinedOutput()
			if err == nil && perr == nil && !strings.Contains(string(out), "("+c.Digest+")") {
				t.Errorf("digest %s, nats-server: %s", c.Digest, out)
			}
			wantOK := strings.HasPrefix(name, "ok-")
			peerOK := wantOK || strings.HasPrefix(name, "strict-")
			if (err == nil) != wantOK || (perr == nil) != peerOK {
				t.Errorf("cairn: %v\nnats-server: %v %s", err, perr, out)
			}
		})
	}
}
