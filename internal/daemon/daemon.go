package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cairn-db/cairn/internal/consumer"
	"github.com/cairn-db/cairn/internal/jsapi"
	"github.com/cairn-db/cairn/internal/jsapi/serverbus"
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
	// HTTPPort is the monitoring port (nats-server: -m/--http_port,
	// config http_port or monitor_port); 0 is off. Accepted but not
	// served yet: monitoring comes with internal/monitor.
	HTTPPort int
}

// Daemon is a running server with its storage.
type Daemon struct {
	cfg Config
	srv *server.Server
	st  *store.Store // nil with DisableKV
	api *jsapi.API   // nil with DisableKV

	consumers *consumer.Manager // nil with DisableKV

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
	if !cfg.DisableKV {
		if err := d.startKV(); err != nil {
			return nil, err
		}
	}
	if err := srv.Start(); err != nil {
		d.closeKV()
		return nil, err
	}
	return d, nil
}

// startKV opens storage and attaches the JetStream API to the server
// before it accepts clients, so the first request finds it ready.
func (d *Daemon) startKV() error {
	log := d.srv.Logger()
	st, err := store.Open(d.cfg.StoreDir, store.Options{
		SyncInterval: d.cfg.SyncInterval,
		SyncAlways:   d.cfg.SyncAlways,
		Logger:       slog.New(&logHandler{log: log}),

		MaxSnapshotEntries: d.cfg.MaxSnapshotEntries,
	})
	if err != nil {
		return fmt.Errorf("cannot open storage in %q: %w", d.cfg.StoreDir, err)
	}
	consumers := consumer.NewManager(consumerBus{d.srv}, slog.New(&logHandler{log: log}))
	consumers.SetSnapshotInterestWait(d.cfg.SnapshotInterestWait)
	maxMem, maxFile := jetStreamLimits(&d.cfg, st)
	api, err := jsapi.New(serverbus.New(d.srv), st, jsapi.Options{
		ServerName:    d.srv.Name(),
		ServerVersion: server.CompatVersion,
		Consumers:     consumers,
		Logf:          log.Warnf,

		MaxMemoryStore: maxMem,
		MaxFileStore:   maxFile,
		MaxConsumers:   d.cfg.MaxConsumers,
	})
	if err != nil {
		consumers.Close()
		st.Close()
		return fmt.Errorf("cannot load streams from %q: %w", d.cfg.StoreDir, err)
	}
	d.st, d.api, d.consumers = st, api, consumers
	return nil
}

func (d *Daemon) closeKV() {
	if d.consumers != nil {
		d.consumers.Close()
	}
	if d.api != nil {
		d.api.Close()
	}
	if d.st != nil {
		if err := d.st.Close(); err != nil {
			d.srv.Logger().Errorf("Closing storage: %v", err)
		}
	}
}

// Server returns the core server.
func (d *Daemon) Server() *server.Server { return d.srv }

// ClientURL returns the nats:// URL of the listener.
func (d *Daemon) ClientURL() string { return d.srv.ClientURL() }

// Shutdown stops accepting clients, flushes and closes them, then closes
// storage. It is idempotent.
func (d *Daemon) Shutdown() {
	d.stop.Do(func() {
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
