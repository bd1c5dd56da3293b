package monitor_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cairn-db/cairn/internal/config"
	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/server"
	"github.com/cairn-db/cairn/internal/testcert"
)

// Secrets of TestNoSecretInAnyEndpoint's configurations.
const (
	secretPassword = "s3cret-Passw0rd-7f3a"
	secretToken    = "t0ken-S3cret-91bd"
	// A user password shaped like an nkey user seed.
	secretSeed = "SUAIBDPBAUTWCWBKIO6XHQNINK5FWJW4OHLXC3HQ2KFE4PEJUA44CNHTC4"
)

// monitorPaths are every endpoint of the monitor, with the parameters
// that show the most.
var monitorPaths = []string{
	"/varz", "/connz?auth=true&subs=detail", "/connz?auth=true&subs=true&state=all",
	"/subsz?subs=true", "/subscriptionsz?subs=true", exporterQuery, "/accountz",
	"/healthz?details=true", "/metrics",
}

// TestNoSecretInAnyEndpoint: configurations (in nats-server's file
// format) holding a password, a token, a seed-like password and a TLS
// key file, with clients logged in with them: no endpoint's answer
// (over HTTP or HTTPS) contains any of them, nor any line of the key.
func TestNoSecretInAnyEndpoint(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := testcert.SelfSigned(t, dir, "server")
	keyLines := pemBodyLines(t, keyFile)
	tlsBlock := `tls { cert_file: "` + certFile + `", key_file: "` + keyFile + `" }` + "\n"
	for _, c := range []struct {
		name  string
		file  string
		login []nats.Option
	}{
		{"token", tlsBlock + `authorization { token: "` + secretToken + `" }` + "\nhttp_port: -1\n",
			[]nats.Option{nats.Token(secretToken)}},
		{"users", tlsBlock + `accounts { A: { users: [ { user: alice, password: "` + secretPassword + `" }, { user: bob, password: "` + secretSeed + `" } ], jetstream: enabled } }` + "\nhttps_port: -1\n",
			[]nats.Option{nats.UserInfo("alice", secretPassword), nats.UserInfo("bob", secretSeed)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cairn.conf")
			if err := os.WriteFile(path, []byte(c.file), 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := config.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			cfg := daemon.Config{StoreDir: t.TempDir()}
			f.Apply(&cfg)
			cfg.Server.Host, cfg.Server.Port = "127.0.0.1", -1
			// Every log line, debug and trace included, is checked too.
			logs := &lockedBuffer{}
			cfg.Server.Logger = server.NewLogger(logs, true, true)
			d, err := daemon.Start(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(d.Shutdown)
			for _, login := range c.login {
				nc, err := nats.Connect(d.ClientURL(), login, nats.RootCAs(certFile))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(nc.Close)
				if _, err := nc.SubscribeSync("secret.watch"); err != nil {
					t.Fatal(err)
				}
				if err := nc.Flush(); err != nil {
					t.Fatal(err)
				}
			}
			base := d.MonitorURL()
			if base == "" {
				t.Fatal("no monitor")
			}
			paths := append([]string{}, monitorPaths...)
			if c.name == "users" {
				paths = append(paths, "/accountz?acc=A", "/connz?acc=A&auth=true&subs=detail", "/jsz?acc=A&consumers=true&config=true")
			}
			if c.name == "users" {
				if _, body := fetch(t, base+"/connz?auth=true"); !bytes.Contains(body, []byte(`"alice"`)) || !bytes.Contains(body, []byte(`"bob"`)) {
					t.Fatalf("the logins are not in /connz:\n%s", body)
				}
			}
			for _, p := range paths {
				code, body := fetch(t, base+p)
				if code != http.StatusOK {
					t.Errorf("%s: %d %s", p, code, body)
				}
				for _, secret := range append([]string{secretPassword, secretToken, secretSeed}, keyLines...) {
					if bytes.Contains(body, []byte(secret)) {
						t.Errorf("%s shows a secret (%.12s…):\n%s", p, secret, body)
					}
				}
			}
			d.Shutdown()
			log := logs.String()
			if !strings.Contains(log, "CONNECT") {
				t.Fatalf("no CONNECT traced: the log check would prove nothing:\n%s", log)
			}
			for _, secret := range append([]string{secretPassword, secretToken, secretSeed}, keyLines...) {
				if strings.Contains(log, secret) {
					t.Errorf("the log shows a secret (%.12s…)", secret)
				}
			}
		})
	}
}

// fetch is get over HTTP or HTTPS (the test's self-signed certificate
// is not verified: only the answer's content matters here).
func fetch(t *testing.T, url string) (int, []byte) {
	t.Helper()
	if !strings.HasPrefix(url, "https:") {
		return get(t, url)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // test
	}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// pemBodyLines returns the base64 lines of a PEM file.
func pemBodyLines(t *testing.T, file string) []string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// Lines too short to be told from chance are left out.
		if line := strings.TrimSpace(sc.Text()); len(line) >= 16 && !strings.HasPrefix(line, "-----") {
			out = append(out, line)
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no PEM body", file)
	}
	return out
}

// lockedBuffer is a log destination safe for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
