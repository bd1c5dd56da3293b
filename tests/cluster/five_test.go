package cluster

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestKVFiveNodes (cairn): a five-node cluster forms one metadata group,
// spreads buckets over every node, serves each bucket from every node,
// sits idle quietly, and keeps working with one node killed.
func TestKVFiveNodes(t *testing.T) {
	t.Parallel()
	nodes := startJSCluster(t, cairnKind(), 5)
	js := make([]jetstream.JetStream, len(nodes))
	for i, n := range nodes {
		js[i] = jsOn(t, n)
	}
	held := map[string][]string{}
	var buckets []string
	for i := range 10 {
		bucket := fmt.Sprintf("five%d", i)
		buckets = append(buckets, bucket)
		if _, err := js[i%5].CreateKeyValue(ctxT(t, 5*time.Second), jetstream.KeyValueConfig{Bucket: bucket}); err != nil {
			t.Fatalf("create %s on %s: %v", bucket, nodes[i%5].name, err)
		}
		visible(t, js, bucket)
		h := holderOf(t, js[(i+2)%5], bucket)
		held[h] = append(held[h], bucket)
	}
	t.Logf("placement: %v", held)
	for _, n := range nodes {
		if len(held[n.name]) == 0 {
			t.Errorf("no bucket on %s: %v", n.name, held)
		}
	}
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.name
	}
	for _, bucket := range buckets {
		checkWorks(t, js, names, bucket, "five")
	}
	leader := checkIdle(t, nodes)

	// Kill the metadata group's leader: the four others elect another
	// and keep serving.
	var victim *node
	var alive []int
	for i, n := range nodes {
		if n.name == leader {
			victim = n
		} else {
			alive = append(alive, i)
		}
	}
	victim.kill()
	killed := time.Now()
	waitFor(t, 10*time.Second, "a new metadata leader", func() bool {
		var first string
		for _, i := range alive {
			l, err := metaLeader(nodes[i])
			if err != nil || l == "" || l == victim.name || (first != "" && l != first) {
				return false
			}
			first = l
		}
		return true
	})
	t.Logf("new metadata leader %v after the kill of %s", time.Since(killed).Round(time.Millisecond), victim.name)
	var ajs []jetstream.JetStream
	var anames []string
	for _, i := range alive {
		ajs, anames = append(ajs, js[i]), append(anames, names[i])
	}
	for _, bucket := range held[victim.name] {
		nc := connect(t, nodes[alive[0]].URL(), nats.IgnoreDiscoveredServers())
		d := waitAPIError(t, nc, "$JS.API.STREAM.INFO.KV_"+bucket, 10118, 5*time.Second)
		t.Logf("%s offline %v after the kill of %s", bucket, d.Round(time.Millisecond), victim.name)
	}
	for h, bs := range held {
		if h == victim.name {
			continue
		}
		for _, bucket := range bs {
			checkWorks(t, ajs, anames, bucket, "four")
		}
	}
	for _, i := range alive {
		bucket := "while-down-" + names[i]
		if _, err := js[i].CreateKeyValue(ctxT(t, 5*time.Second), jetstream.KeyValueConfig{Bucket: bucket}); err != nil {
			t.Fatalf("create %s with 4 of 5 nodes: %v", bucket, err)
		}
		visible(t, ajs, bucket)
		checkWorks(t, ajs, anames, bucket, "new")
	}
}

// cpuTicks returns the user and system clock ticks pid has used.
func cpuTicks(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name, which is in parentheses: state is
	// field 3, utime 14, stime 15.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	u, err1 := strconv.Atoi(f[11])
	s, err2 := strconv.Atoi(f[12])
	if err1 != nil || err2 != nil {
		t.Fatalf("/proc/%d/stat: %q", pid, b)
	}
	return u + s
}

// metaLeader returns the metadata leader n's /jsz reports.
func metaLeader(n *node) (string, error) {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/jsz", n.monitorPort))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var jsz struct {
		Meta *struct {
			Leader string `json:"leader"`
		} `json:"meta_cluster"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&jsz); err != nil {
		return "", err
	}
	if jsz.Meta == nil {
		return "", fmt.Errorf("%s: /jsz has no meta_cluster", n.name)
	}
	return jsz.Meta.Leader, nil
}

// checkIdle watches an idle cluster for a while and returns the
// metadata leader: every node names the same leader all along (polled
// every 100 ms), no node logs anything (no rejoin or route change) and
// each uses little CPU (heartbeats only). The wait is the observation
// window, not a synchronisation.
func checkIdle(t *testing.T, nodes []*node) string {
	t.Helper()
	const window = 2 * time.Second
	logs := make([]string, len(nodes))
	ticks := make([]int, len(nodes))
	for i, n := range nodes {
		logs[i], ticks[i] = n.log(), cpuTicks(t, n.pid())
	}
	var leader string
	for end := time.Now().Add(window); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		for _, n := range nodes {
			l, err := metaLeader(n)
			if err != nil || l == "" {
				t.Fatalf("%s: metadata leader %q %v while idle", n.name, l, err)
			}
			if leader == "" {
				leader = l
			}
			if l != leader {
				t.Fatalf("metadata leader changed while idle: %s says %s, earlier %s", n.name, l, leader)
			}
		}
	}
	for i, n := range nodes {
		if l := n.log(); l != logs[i] {
			t.Errorf("%s logged while idle:\n%s", n.name, strings.TrimPrefix(l, logs[i]))
		}
		// Clock ticks are 1/100 s on Linux: 20 ticks in 2 s is 10% of a core.
		used := cpuTicks(t, n.pid()) - ticks[i]
		t.Logf("%s idle: %d CPU ticks in %v (the /jsz polls included)", n.name, used, window)
		if used > 20 {
			t.Errorf("%s used %d clock ticks of CPU in %v idle", n.name, used, window)
		}
	}
	t.Logf("metadata leader %s all along", leader)
	return leader
}
