package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	cases := []struct {
		args  []string
		check func(*options) bool
	}{
		{nil, func(o *options) bool {
			return o.cfg.Server.Host == "127.0.0.1" && o.cfg.Server.Port == 4222 && o.cfg.StoreDir == "./cairn-data" &&
				o.cfg.SyncInterval == 2*time.Minute && !o.cfg.SyncAlways
		}},
		{[]string{"-a", "0.0.0.0", "-p", "-1", "-n", "n1"}, func(o *options) bool {
			return o.cfg.Server.Host == "0.0.0.0" && o.cfg.Server.Port == -1 && o.cfg.Server.Name == "n1"
		}},
		{[]string{"--addr=::1", "--port", "5000", "--server_name", "x"}, func(o *options) bool {
			return o.cfg.Server.Host == "::1" && o.cfg.Server.Port == 5000 && o.cfg.Server.Name == "x"
		}},
		{[]string{"-js", "-sd", "/tmp/x", "--sync_interval", "always"}, func(o *options) bool {
			return o.cfg.StoreDir == "/tmp/x" && o.cfg.SyncAlways
		}},
		{[]string{"--jetstream", "--store_dir=/d", "--sync_interval=10s"}, func(o *options) bool {
			return o.cfg.StoreDir == "/d" && o.cfg.SyncInterval == 10*time.Second
		}},
		{[]string{"-DV"}, func(o *options) bool { return o.cfg.Server.Debug && o.cfg.Server.Trace }},
		{[]string{"-D"}, func(o *options) bool { return o.cfg.Server.Debug && !o.cfg.Server.Trace }},
		{[]string{"-V", "-l", "f.log", "-P", "p.pid"}, func(o *options) bool {
			return o.cfg.Server.Trace && o.logFile == "f.log" && o.pidFile == "p.pid"
		}},
		{[]string{"-v"}, func(o *options) bool { return o.version }},
		{[]string{"--no_kv"}, func(o *options) bool { return o.cfg.DisableKV }},
		// -m is the monitoring port, as in nats-server, not max_payload.
		{[]string{"-m", "8222"}, func(o *options) bool { return o.cfg.HTTPPort == 8222 && o.cfg.Server.MaxPayload == 0 }},
		{[]string{"--http_port=8223"}, func(o *options) bool { return o.cfg.HTTPPort == 8223 }},
		{[]string{"--max_payload", "2048", "--max_control_line=8192", "--max_pending", "1000000",
			"--max_connections", "10", "--max_subscriptions", "5"}, func(o *options) bool {
			so := o.cfg.Server
			return so.MaxPayload == 2048 && so.MaxControlLine == 8192 && so.MaxPending == 1000000 &&
				so.MaxConnections == 10 && so.MaxSubscriptions == 5
		}},
		{[]string{"--max_memory_store", "1000000", "--max_file_store=-1"}, func(o *options) bool {
			return o.cfg.MaxMemoryStore == 1000000 && o.cfg.MaxFileStore == -1
		}},
		{[]string{"--user", "u", "--pass=p"}, func(o *options) bool {
			return o.cfg.Server.Auth.User == "u" && o.cfg.Server.Auth.Password == "p" && o.cfg.Server.Auth.Token == ""
		}},
		{[]string{"--auth", "t0ken"}, func(o *options) bool { return o.cfg.Server.Auth.Token == "t0ken" }},
	}
	for _, c := range cases {
		o, err := parseFlags(c.args, &bytes.Buffer{})
		if err != nil {
			t.Errorf("%v: %v", c.args, err)
			continue
		}
		if !c.check(o) {
			t.Errorf("%v: parsed %+v", c.args, o.cfg)
		}
	}
	for _, bad := range [][]string{{"-p", "70000"}, {"-p", "x"}, {"--sync_interval", "soon"}, {"--bogus"}, {"extra"},
		{"-m", "70000"}, {"--max_subscriptions", "-1"}, {"--max_payload", "-5"}} {
		if _, err := parseFlags(bad, &bytes.Buffer{}); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	var help bytes.Buffer
	if _, err := parseFlags([]string{"-h"}, &help); !errors.Is(err, flag.ErrHelp) || !strings.Contains(help.String(), "--store_dir") {
		t.Errorf("help: %v %q", err, help.String())
	}
}

func TestStartupErrors(t *testing.T) {
	// A port in use is a clear error and a non-zero exit.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	var out bytes.Buffer
	if code := run([]string{"-p", port, "-sd", t.TempDir()}, &out); code == 0 || !strings.Contains(out.String(), "address already in use") {
		t.Fatalf("port in use: exit %d, output %q", code, out.String())
	}

	// So is a store directory that cannot be written.
	if os.Geteuid() == 0 {
		// root writes anywhere; a path under a regular file fails for all.
		file := filepath.Join(t.TempDir(), "file")
		os.WriteFile(file, nil, 0o600)
		out.Reset()
		if code := run([]string{"-p", "-1", "-sd", filepath.Join(file, "sub")}, &out); code == 0 || !strings.Contains(out.String(), "store directory") {
			t.Fatalf("bad store dir: exit %d, output %q", code, out.String())
		}
		return
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o500)
	out.Reset()
	if code := run([]string{"-p", "-1", "-sd", filepath.Join(dir, "sub")}, &out); code == 0 || !strings.Contains(out.String(), "store directory") {
		t.Fatalf("bad store dir: exit %d, output %q", code, out.String())
	}
}

// syncBuffer is a bytes.Buffer safe for the server's logger and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestGracefulShutdownOnSignal(t *testing.T) {
	out := &syncBuffer{}
	pid := filepath.Join(t.TempDir(), "cairn.pid")
	code := make(chan int, 1)
	go func() { code <- run([]string{"-p", "-1", "-sd", t.TempDir(), "-P", pid}, out) }()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "Client URL: nats://127.0.0.1:") {
		if time.Now().After(deadline) {
			t.Fatalf("server did not start: %s", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if b, err := os.ReadFile(pid); err != nil || string(b) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("pid file: %q %v", b, err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-code:
		if c != 0 || !strings.Contains(out.String(), "Server Exiting") {
			t.Fatalf("exit %d, log %s", c, out.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no shutdown after SIGTERM")
	}
	if _, err := os.Stat(pid); !os.IsNotExist(err) {
		t.Fatal("pid file left behind")
	}
}

// TestMonitorPortFlag: "-m" is the monitoring port, not max_payload:
// the server starts with its default max_payload and serves /healthz on
// the port it logs (-1 picks a free one).
func TestMonitorPortFlag(t *testing.T) {
	out := &syncBuffer{}
	code := make(chan int, 1)
	go func() { code <- run([]string{"-p", "-1", "--no_kv", "-m", "-1"}, out) }()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "Client URL: nats://") {
		if time.Now().After(deadline) {
			t.Fatalf("server did not start: %s", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	const started = "[INF] Starting http monitor on "
	i := strings.Index(out.String(), started)
	if i < 0 {
		t.Fatalf("no %q in:\n%s", started, out.String())
	}
	if strings.Contains(out.String(), "not implemented") {
		t.Errorf("a not-implemented warning in:\n%s", out.String())
	}
	hostPort := strings.SplitN(out.String()[i+len(started):], "\n", 2)[0]
	resp, err := http.Get("http://" + hostPort + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != `{"status":"ok"}` {
		t.Errorf("/healthz: %d %s", resp.StatusCode, body)
	}
	url := out.String()[strings.Index(out.String(), "Client URL: nats://")+len("Client URL: nats://"):]
	conn, err := net.Dial("tcp", strings.TrimSpace(strings.SplitN(url, "\n", 2)[0]))
	if err != nil {
		t.Fatal(err)
	}
	info := make([]byte, 4096)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := conn.Read(info)
	conn.Close()
	if !strings.Contains(string(info[:n]), `"max_payload":1048576`) {
		t.Errorf("INFO %q, want the default max_payload", info[:n])
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("exit %d", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no shutdown after SIGTERM")
	}
}
