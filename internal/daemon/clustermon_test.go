package daemon

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cairn-db/cairn/internal/auth"
	"github.com/cairn-db/cairn/internal/jsapi"
)

// Monitoring a cluster (docs/OPERATIONS.md; docs/CLUSTERING.md,
// "Monitoring a cluster"): /varz's cluster object and route count,
// /routez, STATSZ's cluster name and routes (natscli's "server list"),
// /jsz's meta_cluster ("server report jetstream") and the cluster
// gauges of /metrics, on JetStream cluster nodes with a system account
// as in examples/system-account.conf; and their absence on a server
// alone.

// startMonNode starts a JetStream node with a monitoring port, the
// accounts APP (JetStream, user app) and SYS (the system account, user
// sys); in cluster c1 dialing routes unless alone.
func startMonNode(t *testing.T, name string, alone bool, routes ...string) *Daemon {
	t.Helper()
	cfg := nodeConfig(t, name)
	cfg.HTTPPort, cfg.SystemAccount = -1, "SYS"
	cfg.Accounts = []Account{{Name: "APP", JetStream: &jsapi.AccountLimits{}}, {Name: "SYS"}}
	cfg.Server.Auth.Users = []auth.User{
		{Name: "app", Password: "app", Account: "APP"},
		{Name: "sys", Password: "sys", Account: "SYS"},
	}
	if !alone {
		cfg.Cluster = clusterC1(t, routes)
	}
	return startDaemon(t, cfg)
}

// startMonCluster starts n1, then n2… dialing n1, and waits until
// every node has a route to every other, which has carried a message
// (the metadata group's hellos and heartbeats), and knows the metadata
// group's leader, with all the members applied.
func startMonCluster(t *testing.T, n int) []*Daemon {
	t.Helper()
	n1 := startMonNode(t, "n1", false)
	seed := "nats://" + n1.Cluster().Addr().String()
	nodes := []*Daemon{n1}
	for i := 2; i <= n; i++ {
		nodes = append(nodes, startMonNode(t, "n"+strconv.Itoa(i), false, seed))
	}
	waitUntil(t, "a full mesh with a metadata leader", func() bool {
		for _, d := range nodes {
			if len(d.Cluster().PeerNames()) != n-1 || d.jsc.meta.Leader() == "" || len(d.jsc.meta.Members()) != n {
				return false
			}
			for _, r := range d.Cluster().RouteStats() {
				if r.InMsgs == 0 {
					return false
				}
			}
		}
		return true
	})
	return nodes
}

// monGet fetches path from d's monitor and decodes the JSON answer.
func monGet(t *testing.T, d *Daemon, path string, v any) {
	t.Helper()
	resp, err := http.Get(d.MonitorURL() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

// The parts of the answers the tests read, under nats-server's names.
type (
	monVarz struct {
		Name    string          `json:"server_name"`
		Cluster json.RawMessage `json:"cluster"`
		Routes  int             `json:"routes"`
		JS      struct {
			Meta *monMeta `json:"meta"`
		} `json:"jetstream"`
	}
	monClusterVarz struct {
		Name        string   `json:"name"`
		Addr        string   `json:"addr"`
		Port        int      `json:"cluster_port"`
		AuthTimeout float64  `json:"auth_timeout"`
		URLs        []string `json:"urls"`
		TLSRequired bool     `json:"tls_required"`
	}
	monRoutez struct {
		ID        string `json:"server_id"`
		Name      string `json:"server_name"`
		NumRoutes int    `json:"num_routes"`
		Routes    []struct {
			Rid          uint64    `json:"rid"`
			RemoteID     string    `json:"remote_id"`
			RemoteName   string    `json:"remote_name"`
			DidSolicit   bool      `json:"did_solicit"`
			IsConfigured bool      `json:"is_configured"`
			IP           string    `json:"ip"`
			Port         int       `json:"port"`
			Start        time.Time `json:"start"`
			LastActivity time.Time `json:"last_activity"`
			RTT          string    `json:"rtt"`
			Uptime       string    `json:"uptime"`
			Idle         string    `json:"idle"`
			InMsgs       int64     `json:"in_msgs"`
			OutMsgs      int64     `json:"out_msgs"`
			InBytes      int64     `json:"in_bytes"`
			OutBytes     int64     `json:"out_bytes"`
			Subs         uint32    `json:"subscriptions"`
		} `json:"routes"`
	}
	monMeta struct {
		Name     string `json:"name"`
		Leader   string `json:"leader"`
		Peer     string `json:"peer"`
		Size     int    `json:"cluster_size"`
		Quorum   int    `json:"quorum_needed"`
		Replicas []struct {
			Name    string `json:"name"`
			Current bool   `json:"current"`
			Offline bool   `json:"offline"`
			Peer    string `json:"peer"`
		} `json:"replicas"`
	}
	monJsz struct {
		Meta *monMeta `json:"meta_cluster"`
	}
	monStatsz struct {
		Server struct {
			Name    string `json:"name"`
			Cluster string `json:"cluster"`
		} `json:"server"`
		Stats struct {
			Routes []struct {
				Rid      uint64 `json:"rid"`
				Name     string `json:"name"`
				Sent     struct{ Msgs, Bytes int64 }
				Received struct{ Msgs, Bytes int64 }
			} `json:"routes"`
			ActiveServers int `json:"active_servers"`
		} `json:"statsz"`
	}
)

// pingAll sends a system request to every server and collects the
// answers that arrive within a second of the first.
func pingAll(t *testing.T, nc *nats.Conn, subj, body string, want int) [][]byte {
	t.Helper()
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest(subj, inbox, []byte(body)); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	wait := 5 * time.Second
	for want < 0 || len(out) < want {
		m, err := sub.NextMsg(wait)
		if err != nil {
			break
		}
		out = append(out, m.Data)
		wait = time.Second
	}
	return out
}

// TestClusterMonitoringAlone: a server alone reports an empty cluster
// object and no routes, as nats-server alone; no meta_cluster, no
// cluster name or routes in STATSZ, no cluster gauges; a ping filtered
// on a cluster gets no answer.
func TestClusterMonitoringAlone(t *testing.T) {
	d := startMonNode(t, "solo", true)
	var v monVarz
	monGet(t, d, "/varz", &v)
	if string(v.Cluster) != "{}" || v.Routes != 0 || v.JS.Meta != nil {
		t.Fatalf("varz cluster %s, routes %d, meta %+v", v.Cluster, v.Routes, v.JS.Meta)
	}
	var rz monRoutez
	monGet(t, d, "/routez", &rz)
	if rz.NumRoutes != 0 || rz.Routes == nil || len(rz.Routes) != 0 || rz.Name != "solo" {
		t.Fatalf("routez %+v", rz)
	}
	var raw map[string]any
	monGet(t, d, "/jsz", &raw)
	if _, ok := raw["meta_cluster"]; ok {
		t.Fatalf("jsz meta_cluster alone: %v", raw["meta_cluster"])
	}
	nc := connectAs(t, d, "sys")
	answers := pingAll(t, nc, "$SYS.REQ.SERVER.PING", "", 1)
	if len(answers) != 1 {
		t.Fatalf("%d answers", len(answers))
	}
	var sm map[string]map[string]any
	if err := json.Unmarshal(answers[0], &sm); err != nil {
		t.Fatal(err)
	}
	if _, ok := sm["server"]["cluster"]; ok {
		t.Fatalf("server.cluster alone: %s", answers[0])
	}
	if _, ok := sm["statsz"]["routes"]; ok {
		t.Fatalf("statsz.routes alone: %s", answers[0])
	}
	if got := pingAll(t, nc, "$SYS.REQ.SERVER.PING", `{"cluster":"c1"}`, -1); len(got) != 0 {
		t.Fatalf("filtered on a cluster alone: %q", got)
	}
	rzAnswer := sysRequest(t, nc, "$SYS.REQ.SERVER.PING.ROUTEZ", "")
	if data, _ := rzAnswer["data"].(map[string]any); data == nil || data["num_routes"] != float64(0) {
		t.Fatalf("ROUTEZ alone: %v", rzAnswer)
	}
	fams, _ := scrape(t, d)
	for name := range fams {
		if strings.HasPrefix(name, "cairn_cluster_") {
			t.Errorf("cluster gauge alone: %s", name)
		}
	}
}

// TestClusterMonitoring: on a 3-node cluster every node's /varz names
// the cluster, its listener and configured routes and counts 2 routes;
// /routez describes both routes; every node answers a ping with the
// cluster's name and its 2 routes (also when the ping asks for the
// cluster by name, and not for another); /jsz shows the one metadata
// leader on every node, with the other members as replicas; /metrics
// has the cluster gauges.
func TestClusterMonitoring(t *testing.T) {
	nodes := startMonCluster(t, 3)
	leader := nodes[0].jsc.meta.Leader()
	seed := nodes[0].Cluster().Addr().String()
	solicited := map[string]bool{} // "a>b": a dialed its route to b
	for _, d := range nodes {
		name := d.srv.Name()
		var v monVarz
		monGet(t, d, "/varz", &v)
		var cv monClusterVarz
		if err := json.Unmarshal(v.Cluster, &cv); err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(d.Cluster().Addr().String())
		wantURLs := []string{seed}
		if name == "n1" {
			wantURLs = nil
		}
		if cv.Name != "c1" || cv.Addr != "127.0.0.1" || strconv.Itoa(cv.Port) != port || cv.AuthTimeout != 2 ||
			!slices.Equal(cv.URLs, wantURLs) || cv.TLSRequired || v.Routes != 2 {
			t.Errorf("%s: varz cluster %s, routes %d", name, v.Cluster, v.Routes)
		}
		if v.JS.Meta == nil || v.JS.Meta.Leader != leader || v.JS.Meta.Size != 3 {
			t.Errorf("%s: varz jetstream.meta %+v", name, v.JS.Meta)
		}

		var rz monRoutez
		monGet(t, d, "/routez", &rz)
		var remotes []string
		for _, r := range rz.Routes {
			remotes = append(remotes, r.RemoteName)
			if r.Rid == 0 || r.RemoteID == "" || r.IP != "127.0.0.1" || r.Port == 0 || r.Start.IsZero() ||
				r.LastActivity.Before(r.Start) || r.Uptime == "" || r.Idle == "" ||
				r.InMsgs == 0 || r.InBytes == 0 || r.OutMsgs == 0 || r.OutBytes == 0 {
				t.Errorf("%s: route %+v", name, r)
			}
			// n2 and n3 dial the seed n1, a configured route, and
			// learn the others' addresses; of two routes between a
			// pair one is kept, dialed by either side.
			if r.IsConfigured != (name != "n1" && r.RemoteName == "n1" && r.DidSolicit) {
				t.Errorf("%s: route to %s did_solicit %v is_configured %v", name, r.RemoteName, r.DidSolicit, r.IsConfigured)
			}
			solicited[name+">"+r.RemoteName] = r.DidSolicit
		}
		sort.Strings(remotes)
		if rz.NumRoutes != 2 || rz.Name != name || rz.ID != d.srv.ID() || len(remotes) != 2 || slices.Contains(remotes, name) {
			t.Errorf("%s: routez %d routes to %v", name, rz.NumRoutes, remotes)
		}

		var js monJsz
		monGet(t, d, "/jsz", &js)
		m := js.Meta
		if m == nil || m.Name != "c1" || m.Leader != leader || m.Peer != leader || m.Size != 3 || m.Quorum != 2 || len(m.Replicas) != 2 {
			t.Fatalf("%s: jsz meta_cluster %+v", name, m)
		}
		for _, r := range m.Replicas {
			if r.Name == name || !r.Current || r.Offline || r.Peer != r.Name {
				t.Errorf("%s: replica %+v", name, r)
			}
		}

		fams, _ := scrape(t, d)
		routes, _ := sample(fams, "cairn_cluster_routes", nil)
		lead, _ := sample(fams, "cairn_cluster_meta_leader", nil)
		has, _ := sample(fams, "cairn_cluster_meta_has_leader", nil)
		members, _ := sample(fams, "cairn_cluster_meta_members", nil)
		if routes != 2 || (lead == 1) != (name == leader) || has != 1 || members != 3 {
			t.Errorf("%s: metrics routes %v leader %v has_leader %v members %v", name, routes, lead, has, members)
		}
	}

	for _, pair := range [][2]string{{"n1", "n2"}, {"n1", "n3"}, {"n2", "n3"}} {
		if solicited[pair[0]+">"+pair[1]] == solicited[pair[1]+">"+pair[0]] {
			t.Errorf("route %s–%s: did_solicit %v on both sides", pair[0], pair[1], solicited[pair[0]+">"+pair[1]])
		}
	}

	// The round trip appears after the first PING's PONG (every 2 s).
	waitUntil(t, "a route rtt", func() bool {
		var rz monRoutez
		monGet(t, nodes[0], "/routez", &rz)
		return len(rz.Routes) > 0 && rz.Routes[0].RTT != ""
	})

	nc := connectAs(t, nodes[1], "sys")
	for _, body := range []string{"", `{"cluster":"c1"}`, `{"cluster":"c1","exact_match":true}`} {
		answers := pingAll(t, nc, "$SYS.REQ.SERVER.PING", body, 3)
		if len(answers) != 3 {
			t.Fatalf("ping %q: %d answers", body, len(answers))
		}
		for _, a := range answers {
			var sm monStatsz
			if err := json.Unmarshal(a, &sm); err != nil {
				t.Fatal(err)
			}
			if sm.Server.Cluster != "c1" || len(sm.Stats.Routes) != 2 || sm.Stats.ActiveServers != 3 {
				t.Errorf("ping %q: %s", body, a)
			}
			for _, r := range sm.Stats.Routes {
				if r.Rid == 0 || r.Name == "" || r.Name == sm.Server.Name || r.Received.Msgs == 0 || r.Sent.Bytes == 0 {
					t.Errorf("ping %q: %s route %+v", body, sm.Server.Name, r)
				}
			}
		}
	}
	if got := pingAll(t, nc, "$SYS.REQ.SERVER.PING", `{"cluster":"c2"}`, -1); len(got) != 0 {
		t.Fatalf("ping of cluster c2: %q", got)
	}
	answers := pingAll(t, nc, "$SYS.REQ.SERVER.PING.ROUTEZ", "", 3)
	if len(answers) != 3 {
		t.Fatalf("PING.ROUTEZ: %d answers", len(answers))
	}
	for _, a := range answers {
		var resp struct {
			Server struct{ Cluster string } `json:"server"`
			Data   monRoutez                `json:"data"`
		}
		if err := json.Unmarshal(a, &resp); err != nil {
			t.Fatal(err)
		}
		if resp.Server.Cluster != "c1" || resp.Data.NumRoutes != 2 {
			t.Errorf("PING.ROUTEZ: %s", a)
		}
	}
	direct := sysRequest(t, nc, "$SYS.REQ.SERVER."+nodes[2].srv.ID()+".JSZ", "")
	data, _ := direct["data"].(map[string]any)
	if meta, _ := data["meta_cluster"].(map[string]any); meta == nil || meta["leader"] != leader {
		t.Fatalf("JSZ of n3 through n2: %v", direct)
	}
}

// TestClusterMonitoringPeerLeft: a member whose node stopped is an
// offline replica, and the routes drop to the remaining peer.
func TestClusterMonitoringPeerLeft(t *testing.T) {
	nodes := startMonCluster(t, 3)
	nodes[2].Shutdown()
	waitUntil(t, "n3 is offline", func() bool {
		var js monJsz
		monGet(t, nodes[0], "/jsz", &js)
		if js.Meta == nil {
			return false
		}
		for _, r := range js.Meta.Replicas {
			if r.Name == "n3" {
				return r.Offline && !r.Current
			}
		}
		return false
	})
	var v monVarz
	monGet(t, nodes[0], "/varz", &v)
	if v.Routes != 1 {
		t.Fatalf("routes %d after n3 left", v.Routes)
	}
}

// natsCLI returns the path of the repository's natscli binary, or
// skips the test.
func natsCLI(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("../../.tools/nats")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("natscli not found at %s (scripts/install-tools builds it): %v", p, err)
	}
	return p
}

// TestClusterNatsCLI: natscli's "server list" fills its Cluster and
// Routes columns from every node of a 3-node cluster (checked in its
// JSON output), "server report jetstream" shows the metadata group's
// leader and cluster, "server report routes" the routes and "server
// info" the cluster object.
func TestClusterNatsCLI(t *testing.T) {
	cli := natsCLI(t)
	nodes := startMonCluster(t, 3)
	leader := nodes[0].jsc.meta.Leader()
	run := func(args ...string) []byte {
		t.Helper()
		args = append([]string{"--server", nodes[0].ClientURL(), "--user", "sys", "--password", "sys", "--timeout", "5s"}, args...)
		cmd := exec.Command(cli, args...)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("nats %v: %v\n%s", args, err, out)
		}
		return out
	}
	out := run("server", "list", "3", "--json")
	var list []struct {
		Server struct {
			Name    string `json:"name"`
			Cluster string `json:"cluster"`
		} `json:"server"`
		Stats struct {
			Routes []struct {
				Name string `json:"name"`
			} `json:"routes"`
		} `json:"statsz"`
	}
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("server list --json: %v\n%s", err, out)
	}
	var names []string
	for _, s := range list {
		names = append(names, s.Server.Name)
		if s.Server.Cluster != "c1" || len(s.Stats.Routes) != 2 {
			t.Errorf("server list: %s in cluster %q with %d routes", s.Server.Name, s.Server.Cluster, len(s.Stats.Routes))
		}
	}
	sort.Strings(names)
	if !slices.Equal(names, []string{"n1", "n2", "n3"}) {
		t.Fatalf("server list: %v\n%s", names, out)
	}
	table := string(run("server", "list", "3"))
	if !strings.Contains(table, "c1") {
		t.Errorf("server list table without the cluster:\n%s", table)
	}

	report := string(run("server", "report", "jetstream", "3"))
	// "server report routes" lists every node's two routes from
	// ROUTEZ; "server info" the cluster object of VARZ.
	routes := string(run("server", "report", "routes"))
	if strings.Count(routes, "rid:") != 6 || !strings.Contains(routes, "127.0.0.1:") {
		t.Errorf("server report routes:\n%s", routes)
	}
	info := string(run("server", "info", "n2"))
	if !regexp.MustCompile(`Name: c1\s+Host: 127\.0\.0\.1:\d+\s+URLs: 127\.0\.0\.1:\d+`).MatchString(info) {
		t.Errorf("server info n2:\n%s", info)
	}
	if !strings.Contains(report, "RAFT Meta Group Information - Lead cluster: c1") || !strings.Contains(report, leader) {
		t.Fatalf("server report jetstream (leader %s):\n%s", leader, report)
	}
}
