package daemon

import (
	"io"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cairn-db/cairn/internal/server"
)

// startClusterNode starts a core-only daemon in cluster c1 with a free
// route port, dialing routes.
func startClusterNode(t *testing.T, name string, routes []string, edit func(*ClusterConfig)) *Daemon {
	t.Helper()
	cfg := nodeConfig(t, name)
	cfg.DisableKV = true
	cfg.Cluster = clusterC1(t, routes)
	if edit != nil {
		edit(cfg.Cluster)
	}
	return startDaemon(t, cfg)
}

// nodeConfig is a quiet node named name on a free loopback port, with
// its own store directory.
func nodeConfig(t *testing.T, name string) Config {
	cfg := Config{StoreDir: t.TempDir()}
	cfg.Server.Host, cfg.Server.Port, cfg.Server.Name = "127.0.0.1", -1, name
	cfg.Server.Logger = server.NewLogger(io.Discard, false, false)
	return cfg
}

// clusterC1 is cluster c1 on a free loopback route port, dialing routes.
func clusterC1(t *testing.T, routes []string) *ClusterConfig {
	t.Helper()
	cc := &ClusterConfig{Name: "c1", Host: "127.0.0.1", Port: -1}
	for _, r := range routes {
		u, err := url.Parse(r)
		if err != nil {
			t.Fatal(err)
		}
		cc.Routes = append(cc.Routes, u)
	}
	return cc
}

// startDaemon starts cfg, shut down when the test ends.
func startDaemon(t *testing.T, cfg Config) *Daemon {
	t.Helper()
	d, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Shutdown)
	return d
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestClusterDiscoveryThroughNatsGo(t *testing.T) {
	n1 := startClusterNode(t, "n1", nil, nil)
	nc, err := nats.Connect(n1.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if got := nc.ConnectedClusterName(); got != "c1" {
		t.Fatalf("cluster name %q, want c1", got)
	}
	route := "nats://" + n1.Cluster().Addr().String()
	n2 := startClusterNode(t, "n2", []string{route}, nil)
	n2URL := strings.TrimPrefix(n2.ClientURL(), "nats://")
	waitUntil(t, "nats.go discovers n2", func() bool {
		return slices.Contains(nc.DiscoveredServers(), "nats://"+n2URL)
	})
	if got := n1.Server().ConnectURLs(); !slices.Equal(got, []string{strings.TrimPrefix(n1.ClientURL(), "nats://"), n2URL}) {
		t.Fatalf("n1 connect_urls %v", got)
	}
	// n2 leaves: n1 drops its URL.
	n2.Shutdown()
	waitUntil(t, "n1 drops n2", func() bool {
		return !slices.Contains(n1.Server().ConnectURLs(), n2URL)
	})
}

func TestClusterNoAdvertise(t *testing.T) {
	n1 := startClusterNode(t, "n1", nil, func(cc *ClusterConfig) { cc.NoAdvertise = true })
	route := "nats://" + n1.Cluster().Addr().String()
	n2 := startClusterNode(t, "n2", []string{route}, nil)
	n3 := startClusterNode(t, "n3", []string{route}, nil)
	waitUntil(t, "routes up", func() bool { return len(n1.Cluster().Peers()) == 2 && len(n2.Cluster().Peers()) == 2 })
	nc, err := nats.Connect(n1.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if got := nc.DiscoveredServers(); len(got) != 0 {
		t.Fatalf("no_advertise node told its client of %v", got)
	}
	// As nats-server: the peers do not advertise the node either.
	nc2, err := nats.Connect(n2.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	hostOf := func(u string) string { return strings.TrimPrefix(u, "nats://") }
	waitUntil(t, "n2 advertises n3", func() bool { return slices.Contains(nc2.DiscoveredServers(), n3.ClientURL()) })
	for _, u := range nc2.DiscoveredServers() {
		if hostOf(u) == hostOf(n1.ClientURL()) {
			t.Fatalf("n2 advertised the no_advertise node n1: %v", nc2.DiscoveredServers())
		}
	}
}

func TestClusterReloadRefused(t *testing.T) {
	cur := &ClusterConfig{Name: "c1", Host: "127.0.0.1", Port: 6222}
	for _, tc := range []struct {
		next *ClusterConfig
		want string
	}{
		{&ClusterConfig{Name: "c1", Host: "127.0.0.1", Port: 6222}, ""},
		{&ClusterConfig{Name: "c1", Host: "127.0.0.1", Port: 6223}, "config reload not supported for cluster port: old=6222, new=6223"},
		{&ClusterConfig{Name: "c1", Host: "0.0.0.0", Port: 6222}, "config reload not supported for cluster host: old=127.0.0.1, new=0.0.0.0"},
		{&ClusterConfig{Name: "c2", Host: "127.0.0.1", Port: 6222}, "config reload not supported for cluster: "},
		{nil, "config reload not supported for cluster: "},
	} {
		err := refuseClusterReload(cur, tc.next)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)) {
			t.Errorf("%+v: got %v, want %q", tc.next, err, tc.want)
		}
	}
	if err := refuseClusterReload(nil, nil); err != nil {
		t.Errorf("no cluster: %v", err)
	}
}

// TestClusterAdvertise: --cluster_advertise is the route address a node
// gives its peers (what they would dial to reach it again).
func TestClusterAdvertise(t *testing.T) {
	n1 := startClusterNode(t, "n1", nil, nil)
	const advertised = "127.0.0.1:1" // reachable or not, it is what peers record
	startClusterNode(t, "n2", []string{"nats://" + n1.Cluster().Addr().String()}, func(cc *ClusterConfig) {
		cc.Advertise = advertised
	})
	waitUntil(t, "n1 records n2's advertised route address", func() bool {
		for _, p := range n1.Cluster().Peers() {
			if p.Name == "n2" {
				return p.RouteURL == advertised
			}
		}
		return false
	})
}
