package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cairn-db/cairn/internal/cluster"
	"github.com/cairn-db/cairn/internal/jsapi"
	"github.com/cairn-db/cairn/internal/monitor"
	"github.com/cairn-db/cairn/internal/server"
	"github.com/cairn-db/cairn/internal/store"
)

// DefaultStoreDir is where data lives when no directory is given.
const DefaultStoreDir = "./cairn-data"

// DefaultSyncInterval is how often buffered writes are fsynced under the
// default policy, as in nats-server.
const DefaultSyncInterval = 2 * time.Minute

// Config is everything a Daemon needs. Zero values take defaults.
type Config struct {
	Server server.Options

	// StoreDir holds durable data; created if missing.
	StoreDir string
	// SyncInterval is the fsync period; SyncAlways fsyncs before every
	// acknowledgement instead.
	SyncInterval time.Duration
	SyncAlways   bool
	// DisableKV turns the JetStream/KV layer off (core NATS only).
	DisableKV bool
	// MaxMemoryStore and MaxFileStore bound the bytes of memory and file
	// streams (nats-server's jetstream max_memory_store, max_file_store);
	// 0 takes nats-server's defaults (jslimits.go), negative means none.
	MaxMemoryStore, MaxFileStore int64
	// MaxConsumers caps the consumers of the server; 0 takes
	// jsapi.DefaultMaxConsumers, negative means none.
	MaxConsumers int
	// MaxSnapshotEntries bounds the keys held by the snapshots of the
	// watches and key listings not yet delivered, all together (8 bytes
	// each); a watch beyond it is refused with 10023. 0 takes
	// store.DefaultMaxSnapshotEntries, negative means none.
	MaxSnapshotEntries int64
	// SnapshotInterestWait is how long a watch holding its snapshot
	// waits for a subscriber before it ends; 0 takes
	// consumer.DefaultSnapshotInterestWait.
	SnapshotInterestWait time.Duration
	// Accounts are the configured accounts (nats-server's accounts
	// block). Empty: every client is in the global account, which has
	// JetStream unless DisableKV. Otherwise only the accounts with
	// JetStream limits have it, each in a directory of its own under
	// StoreDir (accounts.go).
	Accounts []Account
	// StoreCacheSize is the block cache shared by every account's store
	// (bytes; 0 is store.DefaultCacheSize); StoreMemTableSize the
	// memtable of each store (0 is store.DefaultMemTableSize). Together
	// they bound the memory the stores hold whatever their size.
	StoreCacheSize, StoreMemTableSize int64
	// HTTPPort is the monitoring port (nats-server: -m/--http_port,
	// config http_port or monitor_port, or the port of http); 0 is off,
	// -1 picks a free port. HTTPHost is the host of the config's
	// http: "host:port"; empty: the client host (Server.Host). See
	// internal/monitor. HTTPSPort is the HTTPS monitoring port
	// (https_port, or the port of https), served with the server's TLS
	// configuration; it excludes HTTPPort, as in nats-server.
	HTTPPort  int
	HTTPHost  string
	HTTPSPort int
	// Batch bounds atomic batch publish (jetstream { limits { batch
	// { … } } }); zero values take nats-server's defaults. Its
	// Inflight counter is the daemon's own, shared by every account.
	Batch jsapi.BatchLimits
	// SystemAccount is the account whose clients may send the system
	// requests (nats-server's system_account); empty: "$SYS" (sys.go).
	SystemAccount string
	// Cluster makes the server a cluster node (cluster.go); nil: alone.
	Cluster *ClusterConfig
}

// Daemon is a running server with its storage.
type Daemon struct {
	cfg Config
	srv *server.Server
	// js is the JetStream of each account that has it (accounts.go);
	// disabled stops the answers of the accounts that do not.
	js       []*accountJS
	disabled []func()
	cache    *store.Cache // shared by the accounts' stores
	// maxMemory and maxFile are the server's JetStream limits as
	// resolved at start (jslimits.go), for monitoring.
	maxMemory, maxFile int64
	// monitor is the monitoring HTTP server; nil when off (monitor.go).
	monitor *monitor.Monitor
	// sys answers the system account's requests (sys.go).
	sys *sysService
	// cluster is the route layer, nil when not clustered (cluster.go).
	cluster   *cluster.Cluster
	clusterMu sync.Mutex
	// jsc is JetStream's cluster state (jscluster.go), nil when not
	// clustered or without JetStream; jscUnsubs remove the front's
	// inboxes.
	jsc       *jsCluster
	jscUnsubs []func()

	stop sync.Once
}

// Start opens storage, starts the server and returns once it accepts
// connections. Errors name what failed (an unwritable store directory,
// a port in use, corrupt data).
func Start(cfg Config) (*Daemon, error) {
	if cfg.StoreDir == "" {
		cfg.StoreDir = DefaultStoreDir
	}
	if cfg.SyncInterval <= 0 {
		cfg.SyncInterval = DefaultSyncInterval
	}
	for _, a := range cfg.Accounts {
		if a.Name == "" || a.Name == server.GlobalAccount {
			// It would be the global account's namespace, which
			// answers 10039 there already (accounts.go).
			return nil, fmt.Errorf("account %q is reserved for the global account", a.Name)
		}
	}
	if !cfg.DisableKV && cfg.Cluster != nil && cfg.Server.Name == "" {
		return nil, errClusterNeedsName
	}
	if !cfg.DisableKV {
		if err := checkWritableDir(cfg.StoreDir); err != nil {
			return nil, err
		}
		cfg.Server.JetStream = true
	}
	srv, err := server.New(cfg.Server)
	if err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, srv: srv}
	d.nameCluster()
	if !cfg.DisableKV {
		if err := d.startKV(); err != nil {
			return nil, err
		}
	}
	// The monitor and the system requests come before the listener, so
	// that a client never finds the system requests unanswered.
	if err := d.startMonitor(); err != nil {
		// As nats-server, which does not run without the monitor it
		// was asked for.
		d.closeKV()
		return nil, err
	}
	d.startSys()
	d.setDiscovery()
	if err := srv.Start(); err != nil {
		d.stopSys()
		d.monitor.Close()
		d.closeKV()
		return nil, err
	}
	if err := d.startCluster(); err != nil {
		d.Shutdown()
		return nil, err
	}
	d.reconcileWhenReady()
	return d, nil
}

// Server returns the core server.
func (d *Daemon) Server() *server.Server { return d.srv }

// ClientURL returns the nats:// URL of the listener.
func (d *Daemon) ClientURL() string { return d.srv.ClientURL() }

// Shutdown stops accepting clients, flushes and closes them, then closes
// storage. It is idempotent.
func (d *Daemon) Shutdown() {
	d.stop.Do(func() {
		d.stopCluster()
		d.stopSys()
		if d.monitor != nil {
			d.monitor.Close()
		}
		d.srv.Shutdown()
		d.closeKV()
	})
}

// checkWritableDir creates dir if needed and proves it is writable, so a
// bad --store_dir fails at start-up rather than on the first write.
func checkWritableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("store directory %q cannot be created: %w", dir, err)
	}
	probe := filepath.Join(dir, ".cairn-write-probe")
	f, err := os.OpenFile(probe, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("store directory %q is not writable: %w", dir, errors.Unwrap(err))
	}
	f.Close()
	return os.Remove(probe)
}
