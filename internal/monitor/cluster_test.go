package monitor_test

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/monitor"
	"github.com/cairn-db/cairn/internal/server"
)

// fakeCluster is a Cluster whose state is set by the test.
type fakeCluster struct {
	routes []monitor.RouteInfo
	meta   *monitor.MetaClusterInfo
}

func (f fakeCluster) Name() string { return "c1" }
func (f fakeCluster) Varz() monitor.ClusterOptsVarz {
	return monitor.ClusterOptsVarz{Name: "c1", Host: "127.0.0.1", Port: 6222, AuthTimeout: 2, URLs: []string{"127.0.0.1:6223"}}
}
func (f fakeCluster) Routes() []monitor.RouteInfo {
	return append([]monitor.RouteInfo(nil), f.routes...)
}
func (f fakeCluster) Meta() *monitor.MetaClusterInfo {
	if f.meta == nil {
		return nil
	}
	m := *f.meta
	m.Replicas = append([]*monitor.PeerInfo(nil), f.meta.Replicas...)
	return &m
}

// newClusterSys returns a monitor over a server named name in a
// cluster described by c, with a JetStream.
func newClusterSys(t *testing.T, name string, c monitor.Cluster) (*monitor.Monitor, *monitor.Sys) {
	t.Helper()
	srv, err := server.New(server.Options{Host: "127.0.0.1", Port: -1, Name: name, Logger: server.NewLogger(io.Discard, false, false)})
	if err != nil {
		t.Fatal(err)
	}
	m, err := monitor.New(monitor.Options{Core: srv, Cluster: c, JetStream: fakeJetStream{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m, monitor.NewSys(m)
}

// TestClusterEndpoints: what the monitor makes of the Cluster it reads:
// /routez sorted by rid with uptime and idle computed; STATSZ's routes
// (sent = out, received = in), active servers and the cluster name in
// the envelope, the ping filter on the cluster's name; the metadata
// group in /jsz, /varz and STATSZ, STATSZ's without replicas on a
// node that does not lead.
func TestClusterEndpoints(t *testing.T) {
	start := time.Now().Add(-90 * time.Second)
	fc := fakeCluster{
		routes: []monitor.RouteInfo{
			{Rid: 9, RemoteName: "n3", Start: start, LastActivity: start.Add(89 * time.Second), InMsgs: 3, InBytes: 30, OutMsgs: 4, OutBytes: 40, Pending: 5},
			{Rid: 2, RemoteName: "n2", Start: start, LastActivity: start},
		},
		meta: &monitor.MetaClusterInfo{Name: "c1", Leader: "n2", Peer: "n2", Size: 3, QuorumNeeded: 2,
			Replicas: []*monitor.PeerInfo{{Name: "n2", Peer: "n2", Current: true}, {Name: "n3", Peer: "n3", Current: true}}},
	}
	m, sys := newClusterSys(t, "n1", fc)

	rz := m.Routez(nil)
	if rz.NumRoutes != 2 || rz.Routes[0].Rid != 2 || rz.Routes[1].Rid != 9 {
		t.Fatalf("routez %+v", rz)
	}
	if r := rz.Routes[0]; r.Uptime != "1m30s" || r.Idle != "1m30s" {
		t.Errorf("route 2: uptime %q idle %q", r.Uptime, r.Idle)
	}
	if r := rz.Routes[1]; r.Idle != "1s" && r.Idle != "2s" {
		t.Errorf("route 9: idle %q", r.Idle)
	}

	v := m.Varz()
	if v.Cluster.Name != "c1" || v.Routes != 2 || v.JetStream.Meta == nil || v.JetStream.Meta.Leader != "n2" || len(v.JetStream.Meta.Replicas) != 2 {
		t.Errorf("varz cluster %+v routes %d meta %+v", v.Cluster, v.Routes, v.JetStream.Meta)
	}
	if js := m.Jsz(nil); js.Meta == nil || js.Meta.Size != 3 || len(js.Meta.Replicas) != 2 {
		t.Errorf("jsz meta %+v", js.Meta)
	}

	var sm struct {
		Server monitor.ServerInfo  `json:"server"`
		Stats  monitor.ServerStats `json:"statsz"`
	}
	if err := json.Unmarshal(sys.Answer(monitor.SysStatsz, nil), &sm); err != nil {
		t.Fatal(err)
	}
	if sm.Server.Cluster != "c1" || sm.Stats.ActiveServers != 3 || len(sm.Stats.Routes) != 2 {
		t.Fatalf("statsz %+v", sm)
	}
	for _, r := range sm.Stats.Routes {
		if r.ID == 9 && (r.Name != "n3" || r.Sent.Msgs != 4 || r.Sent.Bytes != 40 || r.Received.Msgs != 3 || r.Received.Bytes != 30 || r.Pending != 5) {
			t.Errorf("statsz route %+v", r)
		}
	}
	if meta := sm.Stats.JetStream.Meta; meta == nil || meta.Leader != "n2" || meta.Replicas != nil {
		t.Errorf("statsz meta of a follower %+v", meta)
	}

	for body, answered := range map[string]bool{
		`{"cluster":"c"}`: true, `{"cluster":"c1","exact_match":true}`: true,
		`{"cluster":"c","exact_match":true}`: false, `{"cluster":"c2"}`: false,
	} {
		if got := sys.Answer(monitor.SysRoutez, []byte(body)) != nil; got != answered {
			t.Errorf("ROUTEZ %s answered %v", body, got)
		}
	}
	if b := sys.Answer(monitor.SysRoutez, nil); !strings.Contains(string(b), `"cluster":"c1"`) || !strings.Contains(string(b), `"num_routes":2`) {
		t.Errorf("ROUTEZ %s", b)
	}

	// The leader's STATSZ keeps the replicas.
	_, sys = newClusterSys(t, "n2", fc)
	if err := json.Unmarshal(sys.Answer(monitor.SysStatsz, nil), &sm); err != nil {
		t.Fatal(err)
	}
	if meta := sm.Stats.JetStream.Meta; meta == nil || len(meta.Replicas) != 2 {
		t.Errorf("statsz meta of the leader %+v", meta)
	}
}
