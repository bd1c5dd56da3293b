package daemon

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/cairn-db/cairn/internal/jsapi"
	"github.com/cairn-db/cairn/internal/meta"
	"github.com/cairn-db/cairn/internal/repl"
	"github.com/cairn-db/cairn/internal/replica"
	"github.com/cairn-db/cairn/internal/store"
)

// Replicated streams on a cluster (docs/REPLICATION.md): every stream
// of num_replicas > 1 is a Raft group of its own among the peers the
// metadata group placed it on. The groups of this node share one
// repl.Host: one log database (<store>/cluster/streams), the routes as
// transport (frames of group 0 are the metadata group's, the others a
// stream group's) and one ticker. The reconciler makes the local
// replicas follow the placements: a placement naming this node gets a
// replica (created from the recorded configuration, or the stream
// loaded from the store attached to its group), and a replicated
// stream no longer placed here is deleted.

// ReplicasDir is the directory of the stream groups' logs under the
// store directory.
func ReplicasDir(storeDir string) string { return filepath.Join(storeDir, "cluster", "streams") }

// replicas is the daemon's part of the stream groups.
type replicas struct {
	host    *repl.Host
	started bool // the reconciler runs
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

func newReplicas() *replicas {
	return &replicas{kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// wake wakes the reconciler (the metadata group's OnChange).
func (r *replicas) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// openHost opens the stream groups' host (the metadata group must be
// open: frames carry its cluster id).
func (r *replicas) openHost(d *Daemon, g *meta.Group) error {
	dir := ReplicasDir(d.cfg.StoreDir)
	if d.cfg.StoreDir == "" {
		dir = ""
	}
	// The log is written to the operating system before anything that
	// depends on it is sent; fsynced only with --sync_interval always,
	// as the streams' own writes. Its memtable (32 MiB) holds the
	// entries written between two log truncations (a snapshot every
	// 16384 entries or 64 MiB), so that most entries are deleted before
	// they are ever flushed: with 1 MiB every entry went through an
	// sstable and its compactions (R3 put P99 0.80-0.88 ms against
	// 1.03-1.13 ms, three alternating rounds).
	db, err := repl.OpenDBWith(dir, repl.DBOptions{NoFsync: !d.cfg.SyncAlways, MemTableSize: 32 << 20})
	if err != nil {
		return fmt.Errorf("cannot open the replicated streams' log in %q: %w", dir, err)
	}
	h, err := repl.NewHost(repl.HostConfig{
		DB: db, Transport: raftTransport{d}, Cluster: g.Cluster,
		Logf: d.srv.Logger().Warnf,
	})
	if err != nil {
		_ = db.Close()
		return err
	}
	r.host = h
	return nil
}

// replicateFor returns the jsapi.ReplicateFunc of an account: it
// attaches a local driven stream to the group its placement names.
func (d *Daemon) replicateFor(acc *accountJS) jsapi.ReplicateFunc {
	account := d.srv.Account(acc.name).Name()
	return func(cfg *jsapi.StreamConfig, st store.Stream, fresh bool) (jsapi.Replicated, error) {
		jc := d.jsc
		if jc == nil || jc.reps == nil {
			return nil, errors.New("not a cluster node")
		}
		a, err := d.placement(account, cfg.Name)
		if err != nil {
			return nil, err
		}
		var self uint64
		peers := make(map[uint64]string, len(a.Peers))
		for _, p := range a.Peers {
			peers[p.ID] = p.Name
			if p.Name == d.srv.Name() {
				self = p.ID
			}
		}
		if self == 0 {
			return nil, fmt.Errorf("stream %q is placed on %v, not on this server", cfg.Name, a.Nodes())
		}
		var boot []uint64
		initial := len(a.Boot) == 1 && len(a.Peers) > 1
		switch {
		case initial && fresh && a.Boot[0] == self:
			// An R1 stream made replicated here: its group starts from
			// this store alone and adds the others.
			boot = a.Boot
		case initial:
			// Never again from the reconciler: a holder whose log was
			// lost would start a second group alone.
		case slices.Contains(a.Boot, self):
			// The first members of a new stream's group all start it
			// with the same configuration (also one whose log was
			// lost: the leader then sends it what it misses); a member
			// added later starts empty and is added by the leader.
			boot = a.Boot
		}
		return replica.Start(replica.Options{
			Host: jc.reps.host, Group: a.Group, Self: self, Peers: peers,
			Bootstrap: boot,
			Initial:   initial && len(boot) > 0,
			Stream:    st,
			Store:     acc.st,
			Logf:      d.srv.Logger().Noticef,
		})
	}
}

// placement returns the replicated placement of account's stream,
// catching up with the metadata group when this node has not applied
// it yet (the creation was forwarded here by the node that placed it).
func (d *Daemon) placement(account, stream string) (meta.Assignment, error) {
	g := d.jsc.meta
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for synced := false; ; synced = true {
		if a, ok := g.Lookup(account, stream); ok && a.Group != 0 {
			return a, nil
		}
		if synced {
			return meta.Assignment{}, fmt.Errorf("stream %q of account %q has no replicated placement", stream, account)
		}
		if err := g.Sync(ctx); err != nil {
			return meta.Assignment{}, err
		}
	}
}

// reconcileReplicas runs until stopJSCluster: on every change of the
// placements, and every few seconds, it makes the local replicas match
// them.
func (d *Daemon) reconcileReplicas() {
	jc := d.jsc
	if jc == nil || jc.reps == nil {
		return
	}
	r := jc.reps
	r.started = true
	go func() {
		defer close(r.done)
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-r.stop:
				return
			case <-r.kick:
			case <-tick.C:
			}
			if jc.meta.Ready() {
				d.reconcileOnce()
			}
		}
	}()
}

// reconcileOnce ensures a replica of every stream placed here and
// drops the replicated streams placed elsewhere. Dropping needs the
// placements to be current (a read index), so that a node that
// restarted behind never deletes a stream on the strength of old state.
func (d *Daemon) reconcileOnce() {
	jc := d.jsc
	log := d.srv.Logger()
	synced := false
	for _, a := range d.js {
		if a.api == nil {
			continue
		}
		account := d.srv.Account(a.name).Name()
		mine := map[string]bool{}
		for _, as := range jc.meta.Streams(account) {
			if as.Group == 0 || !hasPeer(as, d.srv.Name()) {
				continue
			}
			mine[as.Stream] = true
			if err := a.api.EnsureReplica(as.Config, len(as.Peers)); err != nil {
				log.Warnf("JetStream: replica of stream %q of account %q: %v", as.Stream, account, err)
				continue
			}
			if rep, ok := a.api.Replica(as.Stream); ok {
				if err := rep.SetPeers(peerMap(as)); err != nil {
					log.Warnf("JetStream: members of stream %q of account %q: %v", as.Stream, account, err)
				}
			}
		}
		for _, name := range a.api.ReplicaNames() {
			if mine[name] {
				continue
			}
			if !synced {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := jc.meta.Sync(ctx)
				cancel()
				if err != nil {
					return
				}
				synced = true
				if as, ok := jc.meta.Lookup(account, name); ok && as.Group != 0 && hasPeer(as, d.srv.Name()) {
					continue // placed here meanwhile
				}
			}
			log.Noticef("JetStream: stream %q of account %q is no longer placed here: deleting its replica", name, account)
			if err := a.api.DropReplica(name); err != nil {
				log.Warnf("JetStream: %v", err)
			}
		}
	}
}

// peerMap returns the Raft ids and names of a placement's peers.
func peerMap(a meta.Assignment) map[uint64]string {
	m := make(map[uint64]string, len(a.Peers))
	for _, p := range a.Peers {
		m[p.ID] = p.Name
	}
	return m
}

func hasPeer(a meta.Assignment, name string) bool {
	for _, p := range a.Peers {
		if p.Name == name {
			return true
		}
	}
	return false
}

// stopReplicas stops the reconciler; the host closes after the APIs
// stopped their streams (closeReplicaHost).
func (d *Daemon) stopReplicas() {
	jc := d.jsc
	if jc == nil || jc.reps == nil {
		return
	}
	r := jc.reps
	r.once.Do(func() {
		close(r.stop)
		if r.started {
			<-r.done
		}
	})
}

// closeReplicaHost closes the stream groups' host and its log.
func (d *Daemon) closeReplicaHost() {
	jc := d.jsc
	if jc == nil || jc.reps == nil || jc.reps.host == nil {
		return
	}
	if err := jc.reps.host.Close(); err != nil {
		d.srv.Logger().Errorf("Closing the replicated streams' log: %v", err)
	}
}

// raftFrameTo hands a Raft frame to the group it names.
func (d *Daemon) raftFrameTo(jc *jsCluster, from string, data []byte) {
	if f, err := repl.ParseFrame(data); err == nil && f.Group != repl.MetaGroup && jc.reps != nil {
		jc.reps.host.Receive(from, data)
		return
	}
	jc.meta.Receive(from, data)
}

// placer is jsapi.Placer for one account: it changes a replicated
// stream's peers in the metadata group.
type placer struct {
	d       *Daemon
	account string
}

var _ jsapi.Placer = placer{}

// current returns the stream's placement, caught up with the group.
func (p placer) current(ctx context.Context, stream string) (meta.Assignment, error) {
	g := p.d.jsc.meta
	if err := g.Sync(ctx); err != nil {
		return meta.Assignment{}, err
	}
	a, ok := g.Lookup(p.account, stream)
	if !ok {
		return meta.Assignment{}, fmt.Errorf("stream %q is not placed", stream)
	}
	return a, nil
}

// spare returns the connected nodes (this one included) not in taken,
// least loaded first.
func (p placer) spare(taken []string) []string {
	load := p.d.jsc.meta.Load()
	nodes := append([]string{p.d.srv.Name()}, raftTransport{p.d}.Peers()...)
	var out []string
	for _, n := range nodes {
		if !slices.Contains(taken, n) && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.SortStableFunc(out, func(a, b string) int { return load[a] - load[b] })
	return out
}

func (p placer) setPeers(ctx context.Context, a meta.Assignment, names []string) error {
	peers := make([]meta.Peer, len(names))
	for i, n := range names {
		peers[i] = meta.Peer{Name: n}
	}
	_, err := p.d.jsc.meta.SetPeers(ctx, p.account, a.Stream, a.Revision, peers)
	if err == nil {
		p.d.jsc.reps.wake()
	}
	return err
}

func (p placer) Resize(stream string, n int, keep string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a, err := p.current(ctx, stream)
	if err != nil {
		return err
	}
	cur := a.Nodes()
	next := []string{keep}
	for _, c := range cur {
		if c != keep && len(next) < n {
			next = append(next, c)
		}
	}
	if len(next) < n {
		more := p.spare(next)
		if len(next)+len(more) < n {
			return jsapi.ErrNoPeers
		}
		next = append(next, more[:n-len(next)]...)
	}
	return p.setPeers(ctx, a, next)
}

func (p placer) Replace(stream, peer string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a, err := p.current(ctx, stream)
	if err != nil {
		return err
	}
	cur := a.Nodes()
	more := p.spare(cur)
	if len(more) == 0 {
		return jsapi.ErrNoPeers
	}
	next := slices.DeleteFunc(slices.Clone(cur), func(n string) bool { return n == peer })
	return p.setPeers(ctx, a, append(next, more[0]))
}
