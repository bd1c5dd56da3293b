package main

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/server"
	"github.com/cairn-db/cairn/internal/testcert"
	"github.com/cairn-db/cairn/internal/testserver"
)

// runCairn runs the CLI in this process with the given environment.
func runCairn(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, strings.NewReader(""), &out, &errOut, func(k string) string { return env[k] })
	return out.String(), errOut.String(), code
}

// wantRun checks the exit status and that stderr contains wantErr.
func wantRun(t *testing.T, env map[string]string, wantCode int, wantErr string, args ...string) string {
	t.Helper()
	out, errOut, code := runCairn(t, env, args...)
	if code != wantCode || !strings.Contains(errOut, wantErr) {
		t.Fatalf("cairn %s: status %d, stderr %q; want status %d and %q", strings.Join(args, " "), code, errOut, wantCode, wantErr)
	}
	return out
}

// TestUserPasswordAndToken runs against nats-server and against the
// cairn-server binary, with the same --user/--pass and --auth flags.
func TestUserPasswordAndToken(t *testing.T) {
	for _, kind := range []string{"peer", "cairn"} {
		t.Run(kind, func(t *testing.T) {
			start := func(flags ...string) string {
				if kind == "peer" {
					return testserver.StartPeer(t, flags...).URL
				}
				return testserver.StartCairnProcess(t, t.TempDir(), flags...).URL
			}
			url := start("--user", "alice", "--pass", "s3cret")
			env := map[string]string{"CAIRN_URL": url}
			wantRun(t, env, 1, `the server at `+url+` refused the credentials: check --user and --password, or --token`, "kv", "ls")
			wantRun(t, env, 1, "refused the credentials", "kv", "ls", "--user", "alice", "--password", "wrong")
			wantRun(t, env, 1, `"kind":"auth"`, "--json", "kv", "ls", "--user", "alice", "--password", "wrong")
			wantRun(t, env, 0, "", "kv", "add", "b", "--user", "alice", "--password", "s3cret")
			wantRun(t, map[string]string{"CAIRN_URL": url, "CAIRN_USER": "alice", "CAIRN_PASSWORD": "s3cret"}, 0, "", "kv", "info", "b")
			withUser := strings.Replace(url, "nats://", "nats://alice:s3cret@", 1)
			wantRun(t, nil, 0, "", "kv", "info", "b", "--server", withUser)

			tok := start("--auth", "t0ken")
			wantRun(t, nil, 1, "refused the credentials", "kv", "ls", "-s", tok, "--token", "wrong")
			wantRun(t, nil, 0, "", "kv", "ls", "-s", tok, "--token", "t0ken")
			wantRun(t, map[string]string{"CAIRN_TOKEN": "t0ken"}, 0, "", "kv", "ls", "-s", tok)
		})
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := testcert.Write(t, dir, "ca", nil, nil, true)
	testcert.Write(t, dir, "server", ca, caKey, false)
	testcert.Write(t, dir, "client", ca, caKey, false)
	p := func(name string) string { return filepath.Join(dir, name) }
	// The same mutual-TLS setup on both servers: the peer by flags,
	// cairn-server by a config file.
	conf := p("tls.conf")
	if err := os.WriteFile(conf, []byte("tls {\n  cert_file: \""+p("server.pem")+"\"\n  key_file: \""+p("server-key.pem")+"\"\n  ca_file: \""+p("ca.pem")+"\"\n  verify: true\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	servers := map[string]string{
		"peer":  testserver.StartPeer(t, "--tlsverify", "--tlscert", p("server.pem"), "--tlskey", p("server-key.pem"), "--tlscacert", p("ca.pem")).URL,
		"cairn": testserver.StartCairnProcess(t, t.TempDir(), "-c", conf).URL,
	}
	client := []string{"--tlscert", p("client.pem"), "--tlskey", p("client-key.pem")}
	for name, url := range servers {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{"CAIRN_URL": url}
			wantRun(t, env, 0, "", append([]string{"kv", "ls", "--tlsca", p("ca.pem")}, client...)...)
			// The server's certificate is signed by an unknown CA.
			wantRun(t, env, 1, "TLS with "+url+" failed", append([]string{"kv", "ls"}, client...)...)
			wantRun(t, env, 1, `"kind":"tls"`, append([]string{"--json", "kv", "ls"}, client...)...)
			// The server wants a client certificate.
			wantRun(t, env, 1, "cannot connect to "+url, "kv", "ls", "--tlsca", p("ca.pem"))
		})
	}
}

// A server that completes the NATS handshake but never answers requests:
// every command times out with a message naming --timeout.
func TestRequestTimeout(t *testing.T) {
	url := silentServer(t)
	env := map[string]string{"CAIRN_URL": url}
	wantRun(t, env, 1, "cairn: no answer from the server at "+url+" within 300ms: check that it is healthy, or raise --timeout\n",
		"kv", "get", "b", "k", "--timeout", "300ms")
	wantRun(t, env, 1, `"kind":"timeout"`, "--json", "kv", "info", "b", "--timeout", "300ms")
}

// A listener that accepts connections and says nothing: the connection
// itself times out.
func TestConnectTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	})
	url := "nats://" + ln.Addr().String()
	wantRun(t, nil, 1, "cairn: cannot connect to "+url+": no answer in time: check the address, or raise --timeout\n", "kv", "ls", "-s", url, "--timeout", "200ms")
	wantRun(t, nil, 1, `"kind":"timeout"`, "--json", "kv", "ls", "-s", url, "--timeout", "200ms")
}

// silentServer speaks just enough of the NATS protocol for a client to
// connect (INFO, PONG) and ignores everything else.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.Write([]byte(`INFO {"server_id":"silent","version":"2.15.2","proto":1,"headers":true,"max_payload":1048576}` + "\r\n"))
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if strings.HasPrefix(line, "PING") {
						c.Write([]byte("PONG\r\n"))
					}
				}
			})
		}
	})
	return "nats://" + ln.Addr().String()
}

// A server without the KV API answers every request with "no responders".
func TestServerWithoutKV(t *testing.T) {
	d, err := daemon.Start(daemon.Config{Server: server.Options{Host: "127.0.0.1", Port: -1}, StoreDir: t.TempDir(), DisableKV: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Shutdown)
	url := d.ClientURL()
	wantRun(t, nil, 1, "cairn: the server at "+url+" does not serve key/value buckets (JetStream is off): start cairn-server without --no_kv, or nats-server with -js\n",
		"kv", "ls", "-s", url)
	wantRun(t, nil, 1, `"kind":"no_kv"`, "--json", "kv", "put", "b", "k", "v", "-s", url)
}

// A stream named like a bucket that is not one (it keeps no value per key).
func TestStreamThatIsNotABucket(t *testing.T) {
	srv := testserver.Start(t)
	js := openJS(t, srv.URL)
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "KV_fake", Subjects: []string{"fake.>"}}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"CAIRN_URL": srv.URL}
	wantRun(t, env, 1, "cairn: stream KV_fake exists but is not a key/value bucket\n", "kv", "get", "fake", "k")
	wantRun(t, env, 1, `"kind":"bad_bucket"`, "--json", "kv", "info", "fake")
}

// TestRefusedByPermissionsOrAccount: against both servers started with
// examples/accounts.conf, a write the user's permissions refuse is
// reported as refused (not as a timeout), and a user whose account has
// no JetStream is told so.
func TestRefusedByPermissionsOrAccount(t *testing.T) {
	conf := filepath.Join("..", "..", "examples", "accounts.conf")
	for _, kind := range []string{"peer", "cairn"} {
		t.Run(kind, func(t *testing.T) {
			var url string
			if kind == "peer" {
				url = testserver.StartPeer(t, "-c", conf).URL
			} else {
				url = testserver.StartCairnProcess(t, t.TempDir(), "-c", conf).URL
			}
			env := map[string]string{"CAIRN_URL": url}
			wantRun(t, env, 0, "", "kv", "add", "config", "--user", "billing", "--password", "billing-secret")
			wantRun(t, env, 1, `cairn: the server refused: Permissions Violation for Publish to "$KV.config.k"`,
				"kv", "put", "config", "k", "v", "--user", "billing-ro", "--password", "billing-ro-secret", "--timeout", "2s")
			wantRun(t, env, 1, `"kind":"permission"`,
				"--json", "kv", "put", "config", "k", "v", "--user", "billing-ro", "--password", "billing-ro-secret", "--timeout", "2s")
			wantRun(t, env, 1, "does not serve key/value buckets to this user's account",
				"kv", "ls", "--user", "guest", "--password", "guest-secret")
		})
	}
}
