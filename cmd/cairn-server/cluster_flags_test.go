package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestClusterFlags(t *testing.T) {
	o, err := parseFlags([]string{"--server_name", "n1", "--cluster", "nats://r:s@127.0.0.1:6222", "--cluster_name", "c1",
		"--routes", "nats://127.0.0.1:6223, nats://127.0.0.1:6224", "--no_advertise", "--client_advertise", "10.0.0.1:4222"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	cc := o.cfg.Cluster
	if o.cfg.Server.Name != "n1" || cc == nil || cc.Name != "c1" || cc.Host != "127.0.0.1" || cc.Port != 6222 ||
		cc.User != "r" || cc.Password != "s" || !cc.NoAdvertise || cc.ClientAdvertise != "10.0.0.1:4222" {
		t.Fatalf("cluster %+v, name %q", cc, o.cfg.Server.Name)
	}
	if len(cc.Routes) != 2 || cc.Routes[1].Host != "127.0.0.1:6224" {
		t.Fatalf("routes %v", cc.Routes)
	}
	o, err = parseFlags([]string{"--cluster", "nats://127.0.0.1:-1"}, &bytes.Buffer{})
	if err != nil || o.cfg.Cluster.Port != -1 {
		t.Fatalf("random port: %v %+v", err, o.cfg.Cluster)
	}
	o, err = parseFlags(nil, &bytes.Buffer{})
	if err != nil || o.cfg.Cluster != nil {
		t.Fatalf("no flags: %v, cluster %+v", err, o.cfg.Cluster)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		// nats-server's texts for the same command lines.
		{[]string{"--routes", "nats://127.0.0.1:6223"}, "solicited routes require cluster capabilities, e.g. --cluster"},
		{[]string{"--cluster", "127.0.0.1:6222"}, `parse "127.0.0.1:6222": first path segment in URL cannot contain colon`},
		{[]string{"--cluster", "nats://127.0.0.1"}, "address 127.0.0.1: missing port in address"},
		{[]string{"--cluster", "nats://u@127.0.0.1:6222"}, "expected cluster password to be set"},
		{[]string{"--cluster", "nats://127.0.0.1:6222", "--routes", "nats://x"}, `error parsing route url ["nats://x"]`},
		{[]string{"--cluster", "nats://127.0.0.1:6222", "--client_advertise", "h:x"}, `Error setting server INFO with ClientAdvertise value of h:x, err=strconv.Atoi: parsing "x": invalid syntax`},
	} {
		_, err := parseFlags(c.args, &bytes.Buffer{})
		if err == nil || err.Error() != c.want {
			t.Errorf("%v: got %v, want %q", c.args, err, c.want)
		}
	}
}

func TestClusterFlagsOverFile(t *testing.T) {
	path := writeConf(t, `
client_advertise: "10.0.0.9:4222"
cluster {
  name: fromfile
  listen: "127.0.0.1:6222"
  routes: [ nats://127.0.0.1:6223 ]
  authorization { user: r, password: p, timeout: 3 }
}
`)
	o, err := parseFlags([]string{"-c", path}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	cc := o.cfg.Cluster
	if cc == nil || cc.Name != "fromfile" || cc.Port != 6222 || cc.User != "r" || cc.Password != "p" ||
		cc.AuthTimeout.Seconds() != 3 || len(cc.Routes) != 1 || cc.ClientAdvertise != "10.0.0.9:4222" {
		t.Fatalf("file cluster %+v", cc)
	}
	o, err = parseFlags([]string{"-c", path, "--cluster_name", "flag", "--routes", "nats://127.0.0.1:7000"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cc := o.cfg.Cluster; cc.Name != "flag" || len(cc.Routes) != 1 || cc.Routes[0].Host != "127.0.0.1:7000" || cc.User != "r" {
		t.Fatalf("flags over file %+v", cc)
	}
	o, err = parseFlags([]string{"-c", path, "--cluster", ""}, &bytes.Buffer{})
	if err != nil || o.cfg.Cluster != nil {
		t.Fatalf("--cluster \"\" keeps %+v (%v)", o.cfg.Cluster, err)
	}
	bad := writeConf(t, "cluster { listen: 6222, routes: [ \"nats://x\" ] }\n")
	_, err = parseFlags([]string{"-c", bad}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), `error parsing route url ["nats://x"]`) || !strings.Contains(err.Error(), ":1:") {
		t.Fatalf("bad route in file: %v", err)
	}
}
