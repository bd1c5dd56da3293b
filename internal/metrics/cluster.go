package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Cluster is what the metrics read of a cluster node.
type Cluster interface {
	// ClusterStats returns the node's cluster state now. It must be
	// safe to call concurrently.
	ClusterStats() ClusterStats
}

// ClusterStats is a cluster node's state at one moment.
type ClusterStats struct {
	// Routes is the number of peers with a route up.
	Routes int
	// Meta is set when the node is a member of the JetStream metadata
	// group (JetStream on); the fields below are meaningful only then.
	Meta bool
	// MetaLeader: this node leads the metadata group. MetaLeaderKnown:
	// the node knows a leader (any).
	MetaLeader, MetaLeaderKnown bool
	// MetaMembers is the number of members, as applied on this node.
	MetaMembers int
}

// clusterCollector exports ClusterStats, read at scrape time.
type clusterCollector struct {
	cluster Cluster

	routes, metaLeader, metaHasLeader, metaMembers *prometheus.Desc
}

func newClusterCollector(c Cluster) *clusterCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("cairn_"+name, help, nil, nil)
	}
	return &clusterCollector{
		cluster:       c,
		routes:        d("cluster_routes", "Peers of the cluster with a route up to this node (/varz routes)."),
		metaLeader:    d("cluster_meta_leader", "1 when this node leads the JetStream metadata group, else 0."),
		metaHasLeader: d("cluster_meta_has_leader", "1 when this node knows a leader of the JetStream metadata group, else 0."),
		metaMembers:   d("cluster_meta_members", "Members of the JetStream metadata group, as applied on this node (/jsz meta_cluster.cluster_size)."),
	}
}

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.routes, c.metaLeader, c.metaHasLeader, c.metaMembers} {
		ch <- d
	}
}

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.cluster.ClusterStats()
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	gauge(c.routes, float64(st.Routes))
	if !st.Meta {
		return
	}
	gauge(c.metaLeader, flag(st.MetaLeader))
	gauge(c.metaHasLeader, flag(st.MetaLeaderKnown))
	gauge(c.metaMembers, float64(st.MetaMembers))
}

// flag is 1 for true, 0 for false.
func flag(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
