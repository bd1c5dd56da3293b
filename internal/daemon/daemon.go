package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cairn-db/cairn/internal/server"
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
}

// Daemon is a running server with its storage.
type Daemon struct {
	cfg Config
	srv *server.Server
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
	if err := srv.Start(); err != nil {
		return nil, err
	}
	return d, nil
}

// Server returns the core server.
func (d *Daemon) Server() *server.Server { return d.srv }

// ClientURL returns the nats:// URL of the listener.
func (d *Daemon) ClientURL() string { return d.srv.ClientURL() }

// Shutdown stops accepting clients, flushes and closes them, then closes
// storage. It is idempotent.
func (d *Daemon) Shutdown() {
	d.srv.Shutdown()
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
