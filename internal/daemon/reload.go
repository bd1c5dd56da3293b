package daemon

import (
	"fmt"
	"math"
	"reflect"
)

// Reload applies cfg, the configuration read again, to the running
// daemon: the server part as server.Reload does (authentication,
// permissions, TLS certificates, log levels). What concerns storage is
// fixed at start: a changed store_dir, sync_interval, http_port or http host, accounts
// block, or a jetstream limit changed in a way nats-server refuses to
// reload (decreased, or to or from the default) fails the reload with
// nats-server's words, and nothing changes; a jetstream limit raised, or
// JetStream turned on or off, which nats-server applies, is logged as
// needing a restart and the rest applies. Not safe to call concurrently
// with Start or Shutdown.
func (d *Daemon) Reload(cfg Config) error {
	if cfg.StoreDir == "" {
		cfg.StoreDir = DefaultStoreDir
	}
	if cfg.SyncInterval <= 0 {
		cfg.SyncInterval = DefaultSyncInterval
	}
	if err := d.refuseReload(&cfg); err != nil {
		return err
	}
	cur := &d.cfg
	log := d.srv.Logger()
	for _, w := range []struct {
		key     string
		changed bool
	}{
		{"jetstream", cur.DisableKV != cfg.DisableKV},
		{"jetstream.max_memory_store", cur.MaxMemoryStore != cfg.MaxMemoryStore},
		{"jetstream.max_file_store", cur.MaxFileStore != cfg.MaxFileStore},
	} {
		if w.changed {
			log.Warnf("%s changed: restart to apply", w.key)
		}
	}
	cfg.Server.JetStream = cur.Server.JetStream
	return d.srv.Reload(cfg.Server)
}

// refuseReload returns the error for the first change that cannot be
// reloaded, or nil.
func (d *Daemon) refuseReload(cfg *Config) error {
	cur := &d.cfg
	if err := refuseClusterReload(cur.Cluster, cfg.Cluster); err != nil {
		return err
	}
	if !cur.DisableKV && cfg.StoreDir != cur.StoreDir {
		return fmt.Errorf("config reload not supported for jetstream storage directory")
	}
	if cfg.SyncInterval != cur.SyncInterval || cfg.SyncAlways != cur.SyncAlways {
		return fmt.Errorf("config reload not supported for jetstream.sync_interval: old=%v, new=%v", syncString(cur), syncString(cfg))
	}
	if cfg.HTTPPort != cur.HTTPPort {
		return fmt.Errorf("config reload not supported for http_port: old=%v, new=%v", cur.HTTPPort, cfg.HTTPPort)
	}
	if cfg.HTTPSPort != cur.HTTPSPort {
		return fmt.Errorf("config reload not supported for https_port: old=%v, new=%v", cur.HTTPSPort, cfg.HTTPSPort)
	}
	if cfg.HTTPHost != cur.HTTPHost {
		return fmt.Errorf("config reload not supported for http host: old=%q, new=%q", cur.HTTPHost, cfg.HTTPHost)
	}
	if !reflect.DeepEqual(cfg.Accounts, cur.Accounts) {
		// nats-server reloads accounts; here each one's JetStream and
		// subject namespace are set up at start (accounts.go).
		return fmt.Errorf("config reload not supported for accounts: the accounts block and their jetstream limits apply at start; restart to apply")
	}
	if cfg.systemAccount() != cur.systemAccount() {
		// As nats-server: the system requests are subscribed at start.
		return fmt.Errorf("config reload not supported for SystemAccount: old=%v, new=%v", cur.SystemAccount, cfg.SystemAccount)
	}
	if !cur.DisableKV && !cfg.DisableKV {
		for _, l := range [][2]int64{{cur.MaxMemoryStore, cfg.MaxMemoryStore}, {cur.MaxFileStore, cfg.MaxFileStore}} {
			if err := limitChange(l[0], l[1]); err != nil {
				return err
			}
		}
	}
	return nil
}

// limitChange refuses a change of a server jetstream limit nats-server
// refuses: to or from the default (0 here), or a decrease (-1, no limit,
// counts as the largest).
func limitChange(old, new int64) error {
	if old == new {
		return nil
	}
	if old == 0 || new == 0 {
		return fmt.Errorf("config reload not supported for jetstream dynamic max memory and store")
	}
	unlimited := func(v int64) int64 {
		if v < 0 {
			return math.MaxInt64
		}
		return v
	}
	if unlimited(new) < unlimited(old) {
		return fmt.Errorf("config reload not supported for decreasing jetstream max memory and store")
	}
	return nil
}

func syncString(cfg *Config) string {
	if cfg.SyncAlways {
		return "always"
	}
	return cfg.SyncInterval.String()
}
