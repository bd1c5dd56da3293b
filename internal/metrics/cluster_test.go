package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/cairn-db/cairn/internal/server"
)

type fakeCluster struct{ st ClusterStats }

func (f fakeCluster) ClusterStats() ClusterStats { return f.st }

// TestClusterCollector: the cluster gauges follow the naming
// conventions and carry the values read; a node without a metadata
// group has the routes gauge only, a server alone none.
func TestClusterCollector(t *testing.T) {
	core := fakeCore{server.Stats{}}
	r := New(Options{Core: core, Cluster: fakeCluster{ClusterStats{Routes: 2, Meta: true, MetaLeader: true, MetaLeaderKnown: true, MetaMembers: 3}}})
	problems, err := promlint.NewWithMetricFamilies(gather(t, r.Gatherer())).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "cairn_cluster") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
	compare(t, r.Gatherer(), `
# HELP cairn_cluster_meta_has_leader 1 when this node knows a leader of the JetStream metadata group, else 0.
# TYPE cairn_cluster_meta_has_leader gauge
cairn_cluster_meta_has_leader 1
# HELP cairn_cluster_meta_leader 1 when this node leads the JetStream metadata group, else 0.
# TYPE cairn_cluster_meta_leader gauge
cairn_cluster_meta_leader 1
# HELP cairn_cluster_meta_members Members of the JetStream metadata group, as applied on this node (/jsz meta_cluster.cluster_size).
# TYPE cairn_cluster_meta_members gauge
cairn_cluster_meta_members 3
# HELP cairn_cluster_routes Peers of the cluster with a route up to this node (/varz routes).
# TYPE cairn_cluster_routes gauge
cairn_cluster_routes 2
`, "cairn_cluster_routes", "cairn_cluster_meta_leader", "cairn_cluster_meta_has_leader", "cairn_cluster_meta_members")

	r = New(Options{Core: core, Cluster: fakeCluster{ClusterStats{Routes: 1}}})
	for _, f := range gather(t, r.Gatherer()) {
		if strings.HasPrefix(f.GetName(), "cairn_cluster_meta") {
			t.Errorf("without a metadata group: %s", f.GetName())
		}
	}
	for _, f := range gather(t, New(Options{Core: core}).Gatherer()) {
		if strings.HasPrefix(f.GetName(), "cairn_cluster") {
			t.Errorf("alone: %s", f.GetName())
		}
	}
}
