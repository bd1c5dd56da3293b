package monitor

import (
	"time"
)

// The cluster as monitoring shows it, under nats-server's names: the
// cluster block and route count of /varz, /routez, the routes and
// cluster name of STATSZ (what natscli's "server list" puts in its
// Cluster and Routes columns), and the metadata group of /jsz
// (meta_cluster, what "server report jetstream" shows). A server alone
// has no Cluster: /varz then has an empty cluster object and 0 routes,
// /routez no routes, and the rest leaves the fields out, as
// nats-server alone.

// Cluster is the node's cluster as the monitor reads it: the daemon,
// over the route layer and the metadata group. Its methods are safe
// for concurrent use and return copies.
type Cluster interface {
	// Name returns the cluster's name.
	Name() string
	// Varz returns the cluster object of /varz.
	Varz() ClusterOptsVarz
	// Routes returns the connected routes, with every field but
	// Uptime and Idle (the monitor's, from Start and LastActivity).
	Routes() []RouteInfo
	// Meta returns the JetStream metadata group as this node sees it,
	// nil when it has none (JetStream off).
	Meta() *MetaClusterInfo
}

// ClusterOptsVarz is the cluster object of /varz: the cluster's name,
// the route listener, the configured route addresses (urls, host:port
// without credentials) and the route settings. auth_timeout and
// tls_timeout are float seconds; tls_timeout is the handshake's
// deadline, which TLS shares. pool_size, write_deadline and
// write_timeout are never set: a route is one connection, with the
// route layer's own write deadline.
type ClusterOptsVarz struct {
	Name        string   `json:"name,omitempty"`
	Host        string   `json:"addr,omitempty"`
	Port        int      `json:"cluster_port,omitempty"`
	AuthTimeout float64  `json:"auth_timeout,omitempty"`
	URLs        []string `json:"urls,omitempty"`
	TLSTimeout  float64  `json:"tls_timeout,omitempty"`
	TLSRequired bool     `json:"tls_required,omitempty"`
	TLSVerify   bool     `json:"tls_verify,omitempty"`
	PoolSize    int      `json:"pool_size,omitempty"`
}

// MetaClusterInfo is the JetStream metadata group (meta_cluster of
// /jsz, meta of /varz's jetstream): the cluster's name, the leader's
// server name (and as peer the same name: nats-server's hash of it is
// not reproduced), the members other than this node as replicas, and
// the number of members. The pending counters are 0: requests are not
// queued for the group.
type MetaClusterInfo struct {
	Name            string      `json:"name,omitempty"`
	Leader          string      `json:"leader,omitempty"`
	Peer            string      `json:"peer,omitempty"`
	Replicas        []*PeerInfo `json:"replicas,omitempty"`
	Size            int         `json:"cluster_size"`
	QuorumNeeded    int         `json:"quorum_needed"`
	Pending         int         `json:"pending"`
	PendingRequests int         `json:"pending_requests"`
	PendingInfos    int         `json:"pending_infos"`
}

// PeerInfo is one member of the metadata group: current when a route
// to it is up and the group has a leader, offline without a route;
// active is the time since the route last read or wrote (nanoseconds),
// lag is not known (0).
type PeerInfo struct {
	Name    string        `json:"name"`
	Current bool          `json:"current"`
	Offline bool          `json:"offline,omitempty"`
	Active  time.Duration `json:"active"`
	Lag     uint64        `json:"lag,omitempty"`
	Peer    string        `json:"peer"`
}

// RouteStat is one route in STATSZ: what this node sent to the peer
// and received from it, and the bytes queued for it.
type RouteStat struct {
	ID       uint64    `json:"rid"`
	Name     string    `json:"name,omitempty"`
	Sent     DataStats `json:"sent"`
	Received DataStats `json:"received"`
	Pending  int       `json:"pending"`
}

// clusterName returns the cluster's name, "" for a server alone.
func (m *Monitor) clusterName() string {
	if c := m.opts.Cluster; c != nil {
		return c.Name()
	}
	return ""
}

// routes returns the connected routes, none for a server alone.
func (m *Monitor) routes() []RouteInfo {
	if c := m.opts.Cluster; c != nil {
		return c.Routes()
	}
	return nil
}

// metaCluster returns the metadata group, nil without one (or without
// JetStream).
func (m *Monitor) metaCluster() *MetaClusterInfo {
	if c := m.opts.Cluster; c != nil && m.opts.JetStream != nil {
		return c.Meta()
	}
	return nil
}

// routeStats returns STATSZ's routes.
func (m *Monitor) routeStats() []*RouteStat {
	rs := m.routes()
	if len(rs) == 0 {
		return nil
	}
	out := make([]*RouteStat, 0, len(rs))
	for _, r := range rs {
		out = append(out, &RouteStat{
			ID:       r.Rid,
			Name:     r.RemoteName,
			Sent:     DataStats{Msgs: r.OutMsgs, Bytes: r.OutBytes},
			Received: DataStats{Msgs: r.InMsgs, Bytes: r.InBytes},
			Pending:  r.Pending,
		})
	}
	return out
}
