package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

var routeListenRE = regexp.MustCompile(`listening for routes on (\S+)`)

// waitProcLog polls p's standard error until re matches, and returns the
// first submatch.
func waitProcLog(t *testing.T, p *proc, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := re.FindStringSubmatch(p.log("")); m != nil {
			return m[len(m)-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("log never matched %v:\n%s", re, p.log(""))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestClusterProcesses: two cairn-server processes started with
// nats-server's cluster flags (the first from a config file) form a
// cluster, a nats.go client of one discovers the other, and a reload
// that changes the cluster is refused.
func TestClusterProcesses(t *testing.T) {
	conf := writeConf(t, "cluster { name: c1, listen: \"127.0.0.1:-1\" }\n")
	n1 := startProc(t, "", "-c", conf, "--server_name", "n1", "--no_kv")
	route := waitProcLog(t, n1, routeListenRE)
	n2 := startProc(t, "", "--server_name", "n2", "--no_kv", "--cluster", "nats://127.0.0.1:-1",
		"--cluster_name", "c1", "--routes", "nats://"+route)

	nc, err := nats.Connect(n1.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if nc.ConnectedClusterName() != "c1" {
		t.Fatalf("cluster name %q", nc.ConnectedClusterName())
	}
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(nc.DiscoveredServers(), n2.URL) {
		if time.Now().After(deadline) {
			t.Fatalf("nats.go did not discover %s: %v\nn1:\n%s\nn2:\n%s", n2.URL, nc.DiscoveredServers(), n1.log(""), n2.log(""))
		}
		time.Sleep(10 * time.Millisecond)
	}

	if err := os.WriteFile(conf, []byte("cluster { name: c2, listen: \"127.0.0.1:-1\" }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	n1.signal(t, syscall.SIGHUP)
	msg := waitProcLog(t, n1, regexp.MustCompile(`Failed to reload server configuration: (config reload not supported for cluster: .*)`))
	if !strings.Contains(msg, "restart to apply") {
		t.Fatalf("reload refusal %q", msg)
	}
}
