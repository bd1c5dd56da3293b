package server_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cairn-db/cairn/internal/server"
)

// startDiscoveryServer runs a server with d set before Start, as the
// daemon does for a cluster node.
func startDiscoveryServer(t *testing.T, d server.Discovery) *server.Server {
	t.Helper()
	s, err := server.New(server.Options{Host: "127.0.0.1", Port: -1,
		Logger: server.NewLogger(io.Discard, false, false)})
	if err != nil {
		t.Fatal(err)
	}
	s.SetDiscovery(d)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// discoInfo connects and returns the first INFO and the connection.
func discoInfo(t *testing.T, s *server.Server) (map[string]any, *rawConn) {
	t.Helper()
	conn, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	rc := &rawConn{t: t, conn: conn}
	rc.r = bufio.NewReader(conn)
	return parseInfo(t, rc.line(time.Second)), rc
}

func parseInfo(t *testing.T, l string) map[string]any {
	t.Helper()
	if !strings.HasPrefix(l, "INFO ") {
		t.Fatalf("got %q, want INFO", l)
	}
	var info map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(strings.TrimPrefix(l, "INFO "))), &info); err != nil {
		t.Fatalf("INFO %q: %v", l, err)
	}
	return info
}

func urlsOf(info map[string]any) []string {
	raw, _ := info["connect_urls"].([]any)
	var out []string
	for _, u := range raw {
		out = append(out, u.(string))
	}
	return out
}

func TestConnectURLsAloneAbsent(t *testing.T) {
	s := startServer(t, server.Options{})
	info, _ := discoInfo(t, s)
	if _, ok := info["connect_urls"]; ok {
		t.Fatalf("server alone sent connect_urls: %v", info)
	}
	if _, ok := info["cluster"]; ok {
		t.Fatalf("server alone sent cluster: %v", info)
	}
}

func TestConnectURLsAsyncInfo(t *testing.T) {
	s := startDiscoveryServer(t, server.Discovery{Cluster: "c1"})
	own := s.AdvertisedClientURL()
	if own != s.Addr().String() {
		t.Fatalf("AdvertisedClientURL %q, want %q", own, s.Addr().String())
	}
	info, p1 := discoInfo(t, s)
	if info["cluster"] != "c1" {
		t.Fatalf("INFO cluster %v, want c1", info["cluster"])
	}
	p1.send("CONNECT {\"protocol\":1,\"verbose\":false}\r\nPING\r\n")
	if l := p1.line(time.Second); l != "PONG\r\n" {
		t.Fatalf("got %q", l)
	}
	_, p0 := discoInfo(t, s)
	p0.send("CONNECT {\"protocol\":0,\"verbose\":false}\r\nPING\r\n")
	if l := p0.line(time.Second); l != "PONG\r\n" {
		t.Fatalf("got %q", l)
	}
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	want := []string{own, "127.0.0.1:1", "127.0.0.1:2"}
	s.SetConnectURLs([]string{"127.0.0.1:1", own, "127.0.0.1:2"}) // own first in INFO
	got := urlsOf(parseInfo(t, p1.line(2*time.Second)))
	if !slices.Equal(got, want) {
		t.Fatalf("async INFO connect_urls %v, want %v", got, want)
	}
	// Protocol 0 clients get no INFO: the PING is answered first.
	p0.send("PING\r\n")
	if l := p0.line(time.Second); l != "PONG\r\n" {
		t.Fatalf("protocol 0 client got %q, want PONG", l)
	}
	// The same set again sends nothing.
	s.SetConnectURLs([]string{"127.0.0.1:2", own, "127.0.0.1:1"})
	p1.send("PING\r\n")
	if l := p1.line(time.Second); l != "PONG\r\n" {
		t.Fatalf("unchanged set: got %q, want PONG", l)
	}
	waitFor(t, func() bool {
		return slices.Contains(nc.DiscoveredServers(), "nats://127.0.0.1:2") &&
			slices.Contains(nc.DiscoveredServers(), "nats://127.0.0.1:1")
	})
	if len(nc.Servers()) != 3 {
		t.Fatalf("nats.go servers %v, want 3", nc.Servers())
	}
	// A new client has them in its first INFO.
	info, _ = discoInfo(t, s)
	if got := urlsOf(info); !slices.Equal(got, want) {
		t.Fatalf("first INFO connect_urls %v, want %v", got, want)
	}
}

func TestConnectURLsNoAdvertise(t *testing.T) {
	s := startDiscoveryServer(t, server.Discovery{Cluster: "c1", NoAdvertise: true})
	if u := s.AdvertisedClientURL(); u != "" {
		t.Fatalf("AdvertisedClientURL %q with no_advertise", u)
	}
	_, p1 := discoInfo(t, s)
	p1.send("CONNECT {\"protocol\":1,\"verbose\":false}\r\nPING\r\n")
	if l := p1.line(time.Second); l != "PONG\r\n" {
		t.Fatalf("got %q", l)
	}
	s.SetConnectURLs([]string{"127.0.0.1:1"})
	p1.send("PING\r\n")
	if l := p1.line(time.Second); l != "PONG\r\n" {
		t.Fatalf("no_advertise: got %q, want PONG", l)
	}
	info, _ := discoInfo(t, s)
	if _, ok := info["connect_urls"]; ok || info["cluster"] != "c1" {
		t.Fatalf("no_advertise INFO %v: want cluster and no connect_urls", info)
	}
}

func TestConnectURLsClientAdvertise(t *testing.T) {
	s := startDiscoveryServer(t, server.Discovery{ClientAdvertise: "10.1.1.1:4222"})
	if u := s.AdvertisedClientURL(); u != "10.1.1.1:4222" {
		t.Fatalf("AdvertisedClientURL %q", u)
	}
	// nats-server also announces it as INFO host and port.
	if info, _ := discoInfo(t, s); info["host"] != "10.1.1.1" || info["port"] != float64(4222) {
		t.Fatalf("INFO host %v port %v, want the advertised ones", info["host"], info["port"])
	}
	s2 := startDiscoveryServer(t, server.Discovery{ClientAdvertise: "example.net"})
	if u, want := s2.AdvertisedClientURL(), net.JoinHostPort("example.net", portOf(s2)); u != want {
		t.Fatalf("AdvertisedClientURL %q, want %q", u, want)
	}
}

func portOf(s *server.Server) string {
	_, p, _ := net.SplitHostPort(s.Addr().String())
	return p
}

func TestConnectURLsLameDuckDropsOwn(t *testing.T) {
	s := startDiscoveryServer(t, server.Discovery{Cluster: "c1"})
	own := s.AdvertisedClientURL()
	s.SetConnectURLs([]string{own, "127.0.0.1:1"})
	_, p1 := discoInfo(t, s)
	p1.send("CONNECT {\"protocol\":1,\"verbose\":false}\r\nPING\r\n")
	if l := p1.line(time.Second); l != "PONG\r\n" {
		t.Fatalf("got %q", l)
	}
	done := make(chan bool, 1)
	go func() { done <- s.LameDuck(server.MinLameDuckDuration, 100*time.Millisecond) }()
	info := parseInfo(t, p1.line(2*time.Second))
	if info["ldm"] != true {
		t.Fatalf("INFO %v: want ldm", info)
	}
	if got := urlsOf(info); !slices.Equal(got, []string{"127.0.0.1:1"}) {
		t.Fatalf("lame duck connect_urls %v, want the other node only", got)
	}
	s.Shutdown()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("lame duck did not end on shutdown")
	}
}
