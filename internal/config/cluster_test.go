package config

import (
	"strings"
	"testing"

	"github.com/cairn-db/cairn/internal/daemon"
)

func TestClusterApply(t *testing.T) {
	c, err := load(t, `
client_advertise: "10.0.0.1:4222"
cluster {
  name: c1
  host: 127.0.0.1
  port: 6222
  routes: [ nats://127.0.0.1:6223, nats://127.0.0.1:6223, "nats-route://r:p@127.0.0.1:6224" ]
  advertise: "10.0.0.1:6222"
  no_advertise: true
}
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "cluster.routes: Duplicate route entry detected") {
		t.Fatalf("warnings %q", c.Warnings)
	}
	var dc daemon.Config
	c.Apply(&dc)
	cc := dc.Cluster
	if cc == nil || cc.Name != "c1" || cc.Host != "127.0.0.1" || cc.Port != 6222 || len(cc.Routes) != 2 ||
		cc.Routes[1].User.Username() != "r" || cc.Advertise != "10.0.0.1:6222" || !cc.NoAdvertise || cc.ClientAdvertise != "10.0.0.1:4222" {
		t.Fatalf("cluster %+v", cc)
	}
}

func TestClusterWithoutPortIsOff(t *testing.T) {
	// nats-server: a cluster block without a listen port forms nothing.
	c, err := load(t, "cluster { name: c1 }\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	var dc daemon.Config
	c.Apply(&dc)
	if dc.Cluster != nil {
		t.Fatalf("cluster %+v", dc.Cluster)
	}
}

func TestClusterBadRoutes(t *testing.T) {
	for _, text := range []string{
		"cluster { listen: 6222, routes: [ \"nats://%zz:1\" ] }",
		"cluster { listen: 6222, routes: [ \"nats://host\" ] }",
	} {
		_, err := load(t, text, nil)
		if err == nil || !strings.Contains(err.Error(), "cairn.conf:1: cluster.routes: error parsing route url [") {
			t.Errorf("%s: got %v", text, err)
		}
	}
}
