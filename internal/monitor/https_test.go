package monitor_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/server"
	"github.com/cairn-db/cairn/internal/testcert"
)

// TestHTTPS: with https_port the monitor serves HTTPS with the
// server's certificate, without asking for a client certificate even
// when clients must present one, and plain HTTP gets nothing; /varz
// reports https_port.
func TestHTTPS(t *testing.T) {
	certFile, keyFile := testcert.SelfSigned(t, t.TempDir(), "server")
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, func(c *daemon.Config) {
		c.HTTPPort, c.HTTPSPort = 0, -1
		c.Server.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: x509.NewCertPool()}
	})
	url := d.MonitorURL()
	if !strings.HasPrefix(url, "https://127.0.0.1:") {
		t.Fatalf("monitor URL %q", url)
	}
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	secure := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true, TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"},
	}}
	resp, err := secure.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != `{"status":"ok"}` {
		t.Fatalf("/healthz over https: %d %s", resp.StatusCode, body)
	}
	resp, err = secure.Get(url + "/varz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	port := url[strings.LastIndexByte(url, ':')+1:]
	if !strings.Contains(string(body), `"https_port": `+port+",") || !strings.Contains(string(body), `"http_port": 0,`) {
		t.Errorf("/varz over https does not report https_port %s:\n%s", port, body)
	}
	// Plain HTTP to the HTTPS port gets no answer.
	if resp, err := client.Get("http://127.0.0.1:" + port + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP answered on the HTTPS port")
		}
	}
}

// TestHTTPSRefused: both ports, or HTTPS without TLS, stop the start
// with nats-server's texts.
func TestHTTPSRefused(t *testing.T) {
	certFile, keyFile := testcert.SelfSigned(t, t.TempDir(), "server")
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		edit func(*daemon.Config)
		want string
	}{
		{"both", func(c *daemon.Config) {
			c.HTTPPort, c.HTTPSPort = -1, -1
			c.Server.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		}, "can't specify both HTTP (-1) and HTTPs (-1) ports"},
		{"no tls", func(c *daemon.Config) { c.HTTPPort, c.HTTPSPort = 0, -1 }, "TLS cert and key required for HTTPS"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := daemon.Config{StoreDir: t.TempDir()}
			cfg.Server.Host, cfg.Server.Port = "127.0.0.1", -1
			cfg.Server.Logger = server.NewLogger(io.Discard, false, false)
			c.edit(&cfg)
			d, err := daemon.Start(cfg)
			if err == nil {
				d.Shutdown()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q, want %q", err, c.want)
			}
		})
	}
}
