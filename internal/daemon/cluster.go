package daemon

import (
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/cairn-db/cairn/internal/cluster"
	"github.com/cairn-db/cairn/internal/server"
)

// ClusterConfig is a node's cluster settings, under nats-server's names
// (docs/CLUSTERING.md, "Configuration"). A nil *ClusterConfig in Config
// is a server alone, exactly as without clustering.
type ClusterConfig struct {
	// Name is the cluster name (--cluster_name, cluster.name). Empty:
	// a name is generated at start and a warning logged, as nats-server.
	Name string
	// Host and Port are the route listener (--cluster nats://HOST:PORT,
	// cluster.listen or cluster.host/port); Port -1 picks a free port.
	// An empty Host is the client listener's host (Cairn's default is
	// loopback; nats-server's cluster default is 0.0.0.0).
	Host string
	Port int
	// Routes are the seed routes to dial (--routes, cluster.routes).
	Routes []*url.URL
	// User and Password are the route credentials (cluster.authorization
	// or the user info of --cluster); AuthTimeout bounds the handshake.
	User, Password string
	AuthTimeout    time.Duration
	// TLS secures routes (cluster.tls); nil for none.
	TLS *tls.Config
	// Advertise is the route address given to other nodes
	// (--cluster_advertise, cluster.advertise); kept for the route layer,
	// which does not use it yet.
	Advertise string
	// NoAdvertise: no connect_urls are sent to this node's clients
	// (--no_advertise, cluster.no_advertise).
	NoAdvertise bool
	// ClientAdvertise is the client "host:port" given to clients in
	// connect_urls (--client_advertise, client_advertise).
	ClientAdvertise string
}

// nameCluster gives the cluster a generated name when it has none (a
// copy of the settings: the name is this node's), before JetStream and
// discovery read it.
func (d *Daemon) nameCluster() {
	if d.cfg.Cluster == nil {
		return
	}
	copied := *d.cfg.Cluster
	d.cfg.Cluster = &copied
	if copied.Name == "" {
		copied.Name = generatedClusterName()
		d.srv.Logger().Warnf("Cluster name was dynamically generated, consider setting one")
	}
}

// setDiscovery tells the server what INFO announces about the cluster,
// before it accepts its first client. Nothing without a cluster.
func (d *Daemon) setDiscovery() {
	cc := d.cfg.Cluster
	if cc == nil {
		return
	}
	d.srv.SetDiscovery(server.Discovery{Cluster: cc.Name, ClientAdvertise: cc.ClientAdvertise, NoAdvertise: cc.NoAdvertise})
}

// startCluster starts the routes once the server listens, and keeps the
// server's connect_urls to this node and its connected peers. Nothing
// without a cluster.
func (d *Daemon) startCluster() error {
	cc := d.cfg.Cluster
	if cc == nil {
		return nil
	}
	host := cc.Host
	if host == "" {
		host = d.cfg.Server.Host // as the client listener: loopback by default
	}
	port := cc.Port
	if port < 0 {
		port = 0 // the route layer's "any free port"
	}
	c, err := cluster.Start(d.srv, cluster.Options{
		Name: cc.Name, ServerName: d.srv.Name(),
		Host: host, Port: port, Routes: cc.Routes,
		User: cc.User, Password: cc.Password, AuthTimeout: cc.AuthTimeout,
		TLS:            cc.TLS,
		Advertise:      cc.Advertise,
		ClientURL:      d.srv.AdvertisedClientURL(),
		NoAdvertise:    cc.NoAdvertise,
		OnPeersChanged: d.peersChanged,
		OnRaft:         d.raftFrame,
	})
	if err != nil {
		return err
	}
	d.clusterMu.Lock()
	d.cluster = c
	d.clusterMu.Unlock()
	d.updateConnectURLs()
	return nil
}

// peersChanged updates what depends on the connected peers.
func (d *Daemon) peersChanged() {
	d.updateConnectURLs()
	if jc := d.jsc; jc != nil {
		jc.meta.PeersChanged()
	}
}

// raftFrame hands a Raft frame from a peer to the metadata group.
func (d *Daemon) raftFrame(from string, data []byte) {
	if jc := d.jsc; jc != nil {
		d.raftFrameTo(jc, from, data)
	}
}

// updateConnectURLs gives the server this node's client URL and those
// of the connected peers. clusterMu is held throughout so that two
// calls cannot apply their snapshots of the peers out of order; the
// route layer calls it with none of its locks held.
func (d *Daemon) updateConnectURLs() {
	d.clusterMu.Lock()
	defer d.clusterMu.Unlock()
	c := d.cluster
	urls := []string{d.srv.AdvertisedClientURL()}
	if c != nil {
		for _, p := range c.Peers() {
			if p.ClientURL != "" { // "": the peer does not advertise (no_advertise)
				urls = append(urls, p.ClientURL)
			}
		}
	}
	d.srv.SetConnectURLs(urls)
}

// stopCluster closes every route; it runs before the server shuts down.
func (d *Daemon) stopCluster() {
	d.clusterMu.Lock()
	c := d.cluster
	d.cluster = nil
	d.clusterMu.Unlock()
	if c != nil {
		c.Close()
	}
}

// Cluster returns the node's route layer, nil when not clustered.
func (d *Daemon) Cluster() *cluster.Cluster {
	d.clusterMu.Lock()
	defer d.clusterMu.Unlock()
	return d.cluster
}

// refuseClusterReload refuses what a reload cannot change, with
// nats-server's words: the cluster listener's host and port. Cairn
// refuses the other cluster settings too (they apply at start).
func refuseClusterReload(cur, next *ClusterConfig) error {
	if cur == nil && next == nil {
		return nil
	}
	if cur == nil || next == nil {
		return fmt.Errorf("config reload not supported for cluster: clustering is turned on or off at start; restart to apply")
	}
	if cur.Host != next.Host {
		return fmt.Errorf("config reload not supported for cluster host: old=%s, new=%s", cur.Host, next.Host)
	}
	if cur.Port != next.Port {
		return fmt.Errorf("config reload not supported for cluster port: old=%d, new=%d", cur.Port, next.Port)
	}
	a, b := *cur, *next
	if b.Name == "" {
		b.Name = a.Name // generated at start
	}
	a.TLS, b.TLS = nil, nil // rebuilt by every read of the file
	if !reflect.DeepEqual(a, b) {
		return fmt.Errorf("config reload not supported for cluster: name, routes, authorization, advertise settings apply at start; restart to apply")
	}
	return nil
}

// generatedClusterName returns a random 22-character name in the style
// of nats-server's generated ones.
func generatedClusterName() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	var b [22]byte
	_, _ = rand.Read(b[:])
	var s strings.Builder
	for _, x := range b {
		s.WriteByte(alphabet[int(x)%len(alphabet)])
	}
	return s.String()
}
