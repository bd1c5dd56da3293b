package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cairn-db/cairn/internal/metrics"
	"github.com/cairn-db/cairn/internal/monitor"
	"github.com/cairn-db/cairn/internal/server"
	"github.com/cairn-db/cairn/internal/store"
)

// startMonitor builds the monitor, which answers the system account's
// requests whatever the settings, and starts its HTTP server when
// HTTPPort asks for one (HTTPS for HTTPSPort), on HTTPHost or else the
// client host, as nats-server. Both ports, or HTTPS without TLS, are
// refused with nats-server's texts.
func (d *Daemon) startMonitor() error {
	if d.cfg.HTTPPort != 0 && d.cfg.HTTPSPort != 0 {
		return fmt.Errorf("can't specify both HTTP (%v) and HTTPs (%v) ports", d.cfg.HTTPPort, d.cfg.HTTPSPort)
	}
	host := d.cfg.HTTPHost
	if host == "" {
		host = d.srv.Settings().Host
	}
	opts := monitor.Options{
		Host:          host,
		Port:          d.cfg.HTTPPort,
		Core:          d.srv,
		Logger:        d.srv.Logger(),
		Handlers:      d.monitorHandlers(),
		SystemAccount: d.cfg.SystemAccount,
	}
	if opts.SystemAccount == "" {
		opts.SystemAccount = "$SYS" // as nats-server (sys.go)
	}
	if d.cfg.HTTPSPort != 0 {
		opts.Port, opts.Secure, opts.TLSConfig = d.cfg.HTTPSPort, true, d.srv.TLSConfig
	}
	if !d.cfg.DisableKV {
		opts.JetStream = jetStreamMonitor{d}
	}
	if d.cfg.Cluster != nil {
		opts.Cluster = clusterMonitor{d}
	}
	m, err := monitor.New(opts)
	if err != nil {
		return err
	}
	if opts.Port != 0 {
		if err := m.Listen(); err != nil {
			return err
		}
	}
	d.monitor = m
	return nil
}

// monitorHandlers are the HTTP handlers served beside the monitor's
// own endpoints.
func (d *Daemon) monitorHandlers() map[string]http.Handler {
	h := map[string]http.Handler{}
	if mh := d.metricsHandler(); mh != nil {
		h[MetricsPath] = mh
	}
	return h
}

// MonitorURL returns the http:// (or https://) URL of the monitoring
// server, or "" when it is off.
func (d *Daemon) MonitorURL() string {
	if d.monitor == nil || d.monitor.Addr() == nil {
		return ""
	}
	return d.monitor.Scheme() + "://" + d.monitor.Addr().String()
}

// jetStreamMonitor is what the monitor reads of the daemon's JetStream.
type jetStreamMonitor struct{ d *Daemon }

var _ monitor.JetStream = jetStreamMonitor{}

// Health reads from the store of every account with JetStream: the
// first message of one of its streams (any stream: all share the
// account's database), through the store's ordinary read path. A store
// without streams has nothing to read and counts as healthy; a missing
// message is fine; any other error, such as a closed or failed store,
// is the account's failure. It checks ctx between accounts; the caller
// bounds a read that hangs (internal/monitor).
func (j jetStreamMonitor) Health(ctx context.Context) error {
	for _, a := range j.d.js {
		if err := ctx.Err(); err != nil {
			return err
		}
		streams := a.st.Streams()
		if len(streams) == 0 {
			continue
		}
		if _, err := streams[0].GetNext("", 0); err != nil && !errors.Is(err, store.ErrNotFound) {
			name := a.name
			if name == "" {
				name = server.GlobalAccount
			}
			return fmt.Errorf("JetStream storage of account %q is unusable: %v", name, err)
		}
	}
	return nil
}

// Varz sums the usage of the accounts with JetStream.
func (j jetStreamMonitor) Varz() monitor.JetStreamVarz {
	d := j.d
	dir, err := filepath.Abs(d.cfg.StoreDir)
	if err != nil {
		dir = d.cfg.StoreDir
	}
	cfg := &monitor.JetStreamConfig{
		MaxMemory: d.maxMemory, MaxStore: d.maxFile, StoreDir: dir,
		SyncInterval: d.cfg.SyncInterval, SyncAlways: d.cfg.SyncAlways,
	}
	stats := &monitor.JetStreamStats{Accounts: len(d.js)}
	for _, a := range d.js {
		if a.api == nil {
			continue
		}
		u := a.api.Usage()
		stats.Memory += u.Memory
		stats.Store += u.Storage
		stats.ReservedMemory += u.ReservedMemory
		stats.ReservedStore += u.ReservedStorage
		stats.API.Level = max(stats.API.Level, u.APILevel)
		stats.API.Total += u.APITotal
		stats.API.Errors += u.APIErrors
	}
	return monitor.JetStreamVarz{Config: cfg, Stats: stats}
}

// JszAccounts reports every account with JetStream, by name, through
// the same functions the JetStream API answers with (jsapi.Usage,
// jsapi.StreamDetails), so /jsz and $JS.API.INFO or STREAM.LIST agree.
func (j jetStreamMonitor) JszAccounts(withConsumers bool) []monitor.JszAccount {
	out := make([]monitor.JszAccount, 0, len(j.d.js))
	for _, a := range j.d.js {
		if a.api == nil {
			continue
		}
		acc := monitor.JszAccount{
			Name: a.name, Usage: a.api.Usage(), MaxMemory: -1, MaxStore: -1,
			Streams: a.api.StreamDetails(withConsumers),
		}
		if acc.Name == "" {
			acc.Name = server.GlobalAccount
		}
		if l := a.limits; l != nil {
			acc.MaxMemory, acc.MaxStore = l.MaxMemory, l.MaxFile
		}
		out = append(out, acc)
	}
	slices.SortFunc(out, func(x, y monitor.JszAccount) int { return strings.Compare(x.Name, y.Name) })
	return out
}

// clusterMonitor is what the monitor and the metrics read of the
// node's cluster: the settings, the route layer (nil before it starts
// and after it stops: no routes) and the metadata group (jsc, nil
// without JetStream).
type clusterMonitor struct{ d *Daemon }

var (
	_ monitor.Cluster = clusterMonitor{}
	_ metrics.Cluster = clusterMonitor{}
)

// Name is the cluster's name (generated at start when not configured).
func (c clusterMonitor) Name() string { return c.d.clusterName() }

// Varz reports the route listener (the bound one once the route layer
// runs, else the configured one), the configured routes by address
// (never their credentials) and the handshake's deadline, which TLS
// shares.
func (c clusterMonitor) Varz() monitor.ClusterOptsVarz {
	cc := c.d.cfg.Cluster
	v := monitor.ClusterOptsVarz{Name: cc.Name, Host: cc.Host, Port: max(cc.Port, 0)} // -1: not bound yet
	if v.Host == "" {
		v.Host = c.d.cfg.Server.Host
	}
	timeout := cc.AuthTimeout
	if cl := c.d.Cluster(); cl != nil {
		if a, ok := cl.Addr().(*net.TCPAddr); ok {
			v.Port = a.Port
		}
		timeout = cl.AuthTimeout()
	}
	if timeout <= 0 {
		timeout = 2 * time.Second // the route layer's default
	}
	v.AuthTimeout = timeout.Seconds()
	for _, u := range cc.Routes {
		v.URLs = append(v.URLs, u.Host)
	}
	if cc.TLS != nil {
		v.TLSRequired, v.TLSVerify, v.TLSTimeout = true, true, timeout.Seconds()
	}
	return v
}

// Routes reports the route layer's ready routes.
func (c clusterMonitor) Routes() []monitor.RouteInfo {
	cl := c.d.Cluster()
	if cl == nil {
		return nil
	}
	stats := cl.RouteStats()
	out := make([]monitor.RouteInfo, 0, len(stats))
	for _, s := range stats {
		ri := monitor.RouteInfo{
			Rid: s.ID, RemoteID: s.RemoteID, RemoteName: s.RemoteName,
			DidSolicit: s.Dialed, IsConfigured: s.Configured, IP: s.IP, Port: s.Port,
			Start: s.Start, LastActivity: s.LastActivity, Pending: s.Pending,
			InMsgs: s.InMsgs, OutMsgs: s.OutMsgs, InBytes: s.InBytes, OutBytes: s.OutBytes,
			NumSubs: uint32(s.Subscriptions),
		}
		if s.RTT > 0 {
			ri.RTT = s.RTT.String()
		}
		out = append(out, ri)
	}
	return out
}

// Meta reports the metadata group as applied on this node: the other
// members as replicas, each current when its route is up and the group
// has a leader, active since its route's last activity.
func (c clusterMonitor) Meta() *monitor.MetaClusterInfo {
	jc := c.d.jsc
	if jc == nil {
		return nil
	}
	leader, members := jc.meta.Leader(), jc.meta.Members()
	mi := &monitor.MetaClusterInfo{
		Name: c.d.clusterName(), Leader: leader, Peer: leader,
		Size: len(members), QuorumNeeded: len(members)/2 + 1,
	}
	routes := map[string]monitor.RouteInfo{}
	for _, r := range c.Routes() {
		routes[r.RemoteName] = r
	}
	now, self := time.Now(), c.d.srv.Name()
	for _, name := range members {
		if name == self {
			continue
		}
		p := &monitor.PeerInfo{Name: name, Peer: name, Offline: true}
		if r, ok := routes[name]; ok {
			p.Offline, p.Current = false, leader != ""
			p.Active = max(now.Sub(r.LastActivity), 0)
		}
		mi.Replicas = append(mi.Replicas, p)
	}
	return mi
}

// ClusterStats reads the routes and the metadata group for the
// metrics.
func (c clusterMonitor) ClusterStats() metrics.ClusterStats {
	var st metrics.ClusterStats
	if cl := c.d.Cluster(); cl != nil {
		st.Routes = len(cl.PeerNames())
	}
	if jc := c.d.jsc; jc != nil {
		leader := jc.meta.Leader()
		st.Meta, st.MetaMembers = true, len(jc.meta.Members())
		st.MetaLeaderKnown, st.MetaLeader = leader != "", leader != "" && leader == c.d.srv.Name()
	}
	return st
}
