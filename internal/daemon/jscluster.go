package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/cairn-db/cairn/internal/jsapi"
	"github.com/cairn-db/cairn/internal/jsfront"
	"github.com/cairn-db/cairn/internal/meta"
	"github.com/cairn-db/cairn/internal/server"
)

// JetStream on a cluster (docs/CLUSTERING.md, "JetStream on a
// cluster"): the metadata group (internal/meta) agrees on which node
// holds each stream, and the front (internal/jsfront) sends each API
// request to that node. Both exist only on a cluster node with
// JetStream; they start with the stores, before the route layer, and
// reach it through the adapters below, which find no route until it is
// up.

// errClusterNeedsName is nats-server's refusal of a JetStream cluster
// node without a name: the metadata group identifies nodes by name
// across restarts.
var errClusterNeedsName = errors.New("jetstream cluster requires `server_name` to be set")

// jsCluster is the daemon's JetStream cluster state.
type jsCluster struct {
	meta  *meta.Group
	reps  *replicas // the stream groups (jsreplicas.go)
	front *jsfront.Front
	stop  chan struct{}
	done  chan struct{} // closed when the reconciler ends; nil if never started
	once  sync.Once
}

// MetaDir is the directory of the metadata group's log under the store
// directory.
func MetaDir(storeDir string) string { return filepath.Join(storeDir, "cluster", "meta") }

// startJSCluster opens the metadata group and the front; nothing
// without a cluster.
func (d *Daemon) startJSCluster() error {
	if d.cfg.Cluster == nil {
		return nil
	}
	dir := MetaDir(d.cfg.StoreDir)
	if d.cfg.StoreDir == "" {
		dir = ""
	}
	log := d.srv.Logger()
	reps := newReplicas()
	g, err := meta.Open(meta.Options{
		Name:       d.srv.Name(),
		Dir:        dir,
		Transport:  raftTransport{d},
		Logf:       log.Noticef,
		Errorf:     log.Errorf,
		SeedsReady: d.seedsReady,
		OnChange:   reps.wake,
	})
	if err != nil {
		return fmt.Errorf("cannot open the cluster's metadata in %q: %w", dir, err)
	}
	if err := reps.openHost(d, g); err != nil {
		_ = g.Close()
		return err
	}
	jc := &jsCluster{meta: g, reps: reps, stop: make(chan struct{})}
	jc.front = jsfront.New(jsfront.Options{
		Name:    d.srv.Name(),
		Cluster: d.clusterName(),
		Meta:    metaView{g: g, d: d}, // a jsfront.ConfigMeta
		Net:     frontNet{d},
		Local:   frontLocal{d},
		Logf:    log.Warnf,
	})
	d.jsc = jc
	return nil
}

// reconcileWhenReady records the streams this node holds in the
// metadata group once it has a leader (streams from before the node
// joined a cluster, or created while the group had none).
func (d *Daemon) reconcileWhenReady() {
	jc := d.jsc
	if jc == nil {
		return
	}
	d.reconcileReplicas()
	jc.done = make(chan struct{})
	go func() {
		defer close(jc.done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-jc.stop:
				return
			case <-tick.C:
			}
			if !jc.meta.Ready() {
				continue
			}
			ok := true
			for _, a := range d.js {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := jc.front.Reconcile(ctx, d.srv.Account(a.name).Name(), r1Streams(a.api))
				cancel()
				if err != nil {
					d.srv.Logger().Errorf("JetStream cluster: %v", err)
					ok = ok && !isUnavailable(err)
				}
			}
			if ok {
				return
			}
		}
	}()
}

func isUnavailable(err error) bool { return err != nil && errors.Is(err, meta.ErrUnavailable) }

// stopJSCluster stops the front, then the metadata group.
func (d *Daemon) stopJSCluster() {
	jc := d.jsc
	if jc == nil {
		return
	}
	jc.once.Do(func() {
		close(jc.stop)
		if jc.done != nil {
			<-jc.done
		}
		d.stopReplicas()
		jc.front.Close()
		if err := jc.meta.Close(); err != nil {
			d.srv.Logger().Errorf("Closing the cluster's metadata: %v", err)
		}
	})
}

// seedsReady reports whether every configured route is connected.
func (d *Daemon) seedsReady() bool {
	c := d.Cluster()
	return c != nil && c.SeedsConnected()
}

// raftTransport carries the metadata group's frames over the routes.
type raftTransport struct{ d *Daemon }

func (t raftTransport) Send(to string, data []byte) bool {
	c := t.d.Cluster()
	return c != nil && c.SendRaft(to, data)
}

func (t raftTransport) Peers() []string {
	if c := t.d.Cluster(); c != nil {
		return c.PeerNames()
	}
	return nil
}

// frontNet is the route layer as the front sees it.
type frontNet struct{ d *Daemon }

func (n frontNet) SendTo(peer, account string, subject, reply, hdr, data []byte) bool {
	c := n.d.Cluster()
	return c != nil && c.SendTo(peer, account, subject, reply, hdr, data)
}

func (n frontNet) Peers() []string { return raftTransport(n).Peers() }

// frontLocal is this node's JetStream as the front sees it.
type frontLocal struct{ d *Daemon }

func (l frontLocal) Publish(account, subject, reply string, hdr, data []byte) {
	l.d.srv.Account(account).Publish(subject, reply, hdr, data)
}

func (l frontLocal) StreamConfig(account, stream string) (json.RawMessage, bool) {
	for _, a := range l.d.js {
		if a.api != nil && l.d.srv.Account(a.name).Name() == account {
			return a.api.StreamConfigJSON(stream)
		}
	}
	return nil, false
}

var (
	_ jsfront.SyncMeta   = metaView{}
	_ jsfront.ConfigMeta = metaView{}
)

// metaView adapts the metadata group to the front.
type metaView struct {
	g *meta.Group
	d *Daemon
}

func (m metaView) Holder(account, stream string) (string, bool) {
	a, ok := m.g.Lookup(account, stream)
	return a.Node, ok
}

func (m metaView) Config(account, stream string) (json.RawMessage, bool) {
	a, ok := m.g.Lookup(account, stream)
	return a.Config, ok
}

func (m metaView) Place(ctx context.Context, account, stream, node string, cfg json.RawMessage) (string, error) {
	a, err := m.g.Assign(ctx, meta.Assignment{Account: account, Stream: stream, Node: node, Config: cfg, Created: time.Now().UTC()})
	return a.Node, err
}

func (m metaView) Sync(ctx context.Context) error { return m.g.Sync(ctx) }

func (m metaView) Release(ctx context.Context, account, stream, node string) error {
	return m.g.Unassign(ctx, account, stream, node)
}

func (m metaView) Define(ctx context.Context, account, stream, node string, cfg json.RawMessage) error {
	return m.g.SetConfig(ctx, account, stream, node, cfg)
}

func (m metaView) Load() map[string]int {
	names := make([]string, 0, len(m.d.js))
	for _, a := range m.d.js {
		names = append(names, m.d.srv.Account(a.name).Name())
	}
	return m.g.Load(names...) // a replicated stream counts on each peer
}

var _ jsfront.MemberMeta = metaView{}

// Members returns the metadata group's members.
func (m metaView) Members() []string { return m.g.Members() }

// StepDownTo hands the metadata group's leadership to the named member.
func (m metaView) StepDownTo(ctx context.Context, to string) error { return m.g.StepDownTo(ctx, to) }

func (m metaView) Streams(account string) map[string]string {
	out := map[string]string{}
	for _, as := range m.g.Streams(account) {
		out[as.Stream] = as.Node
	}
	return out
}

// frontBus returns the front's bus for an account's JetStream API.
func (d *Daemon) frontBus(acc *server.Account) (*jsfront.Bus, error) {
	b, unsub, err := d.jsc.front.Bus(acc)
	if err != nil {
		return nil, err
	}
	d.jscUnsubs = append(d.jscUnsubs, unsub)
	return b, nil
}

// clusterName is the cluster's name, "" for a server alone.
func (d *Daemon) clusterName() string {
	if d.cfg.Cluster == nil {
		return ""
	}
	return d.cfg.Cluster.Name
}

var (
	_ jsfront.ReplicaMeta = metaView{}
	_ jsfront.LeaderLocal = frontLocal{}
)

// Peers returns the peers of a replicated stream.
func (m metaView) Peers(account, stream string) ([]string, bool) {
	a, ok := m.g.Lookup(account, stream)
	if !ok || a.Group == 0 {
		return nil, false
	}
	return a.Nodes(), true
}

// PlaceReplicas proposes a replicated placement on peers.
func (m metaView) PlaceReplicas(ctx context.Context, account, stream string, peers []string, cfg json.RawMessage) (string, error) {
	ps := make([]meta.Peer, len(peers))
	for i, p := range peers {
		ps[i] = meta.Peer{ID: uint64(i + 1), Name: p}
	}
	a, err := m.g.Assign(ctx, meta.Assignment{Account: account, Stream: stream, Node: peers[0], Peers: ps, Config: cfg, Created: time.Now().UTC()})
	return a.Node, err
}

// StepDown hands the metadata group's leadership to another member.
func (m metaView) StepDown(ctx context.Context) error { return m.g.StepDown(ctx) }

// Leader returns the metadata group's leader.
func (m metaView) Leader() string { return m.g.Leader() }

// Leads reports whether this node runs a replica of the stream and
// leads it.
func (l frontLocal) Leads(account, stream string) (replicated, leader bool) {
	for _, a := range l.d.js {
		if a.api != nil && l.d.srv.Account(a.name).Name() == account {
			return a.api.Leads(stream)
		}
	}
	return false, false
}

// r1Streams returns the streams of one replica (the replicated ones are
// placed by their creation, never reconciled).
func r1Streams(api *jsapi.API) []string {
	reps := api.ReplicaNames()
	var out []string
	for _, name := range api.StreamNames() {
		if !slices.Contains(reps, name) {
			out = append(out, name)
		}
	}
	return out
}

var _ jsfront.ConsumerLocal = frontLocal{}

// HasConsumer reports whether the consumer runs on this node.
func (l frontLocal) HasConsumer(account, stream, consumer string) bool {
	for _, a := range l.d.js {
		if a.consumers != nil && l.d.srv.Account(a.name).Name() == account {
			_, err := a.consumers.Get(stream, consumer)
			return err == nil
		}
	}
	return false
}
