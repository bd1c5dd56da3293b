package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/cairn-db/cairn/internal/consumer"
	"github.com/cairn-db/cairn/internal/jsapi"
	"github.com/cairn-db/cairn/internal/jsapi/serverbus"
	"github.com/cairn-db/cairn/internal/server"
	"github.com/cairn-db/cairn/internal/store"
)

// Account is one configured account.
type Account struct {
	Name string
	// JetStream are the account's limits; nil when JetStream is not
	// enabled for it (its API requests are answered 10039).
	JetStream *jsapi.AccountLimits
}

// accountJS is the JetStream of one account: its store, consumers and
// API, attached to the account's subject namespace.
type accountJS struct {
	name      string
	dir       string
	limits    *jsapi.AccountLimits // nil: the global account without accounts
	st        *store.Store
	consumers *consumer.Manager
	api       *jsapi.API
}

// AccountsDir is the directory under the store directory that holds one
// directory per account when accounts are configured.
const AccountsDir = "accounts"

// AccountDir returns the directory of an account's data under storeDir:
// storeDir itself for the global account of a server without accounts
// (name ""), storeDir/accounts/<name> otherwise, with every byte of the
// name other than a letter, digit, '-' or '_' written %XX, so that any
// account name is one safe path element and two names never share one.
func AccountDir(storeDir, name string) string {
	if name == "" {
		return storeDir
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return filepath.Join(storeDir, AccountsDir, b.String())
}

// startKV opens the storage of every account with JetStream and attaches
// its API to the account before the server accepts clients, so the
// first request finds it ready. The accounts without JetStream (and the
// global account, when accounts are configured) answer 10039.
func (d *Daemon) startKV() error {
	type plan struct {
		name   string // "" is the global account
		limits *jsapi.AccountLimits
	}
	var plans []plan
	var off []string
	if len(d.cfg.Accounts) == 0 {
		plans = append(plans, plan{name: ""})
	} else {
		off = append(off, server.GlobalAccount)
		d.warnGlobalData()
		for _, a := range d.cfg.Accounts {
			if a.JetStream == nil {
				off = append(off, a.Name)
				continue
			}
			plans = append(plans, plan{name: a.Name, limits: a.JetStream})
		}
	}
	cacheSize := d.cfg.StoreCacheSize
	if cacheSize <= 0 {
		cacheSize = store.DefaultCacheSize
	}
	d.cache = store.NewCache(cacheSize)
	for _, p := range plans {
		if err := d.openAccount(p.name, p.limits); err != nil {
			d.closeKV()
			return err
		}
	}
	if err := d.startJSCluster(); err != nil {
		d.closeKV()
		return err
	}
	if err := d.startAPIs(); err != nil {
		d.closeKV()
		return err
	}
	for _, name := range off {
		stop, err := jsapi.ServeDisabled(serverbus.NewLocal(d.srv.Account(name)))
		if err != nil {
			d.closeKV()
			return err
		}
		d.disabled = append(d.disabled, stop)
	}
	return nil
}

// openAccount opens the store of one account.
func (d *Daemon) openAccount(name string, limits *jsapi.AccountLimits) error {
	dir := AccountDir(d.cfg.StoreDir, name)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("cannot create the directory of account %q: %w", name, err)
	}
	st, err := store.Open(dir, store.Options{
		SyncInterval: d.cfg.SyncInterval,
		SyncAlways:   d.cfg.SyncAlways,
		Logger:       slog.New(&logHandler{log: d.srv.Logger()}),

		MaxSnapshotEntries: d.cfg.MaxSnapshotEntries,
		Cache:              d.cache,
		MemTableSize:       d.cfg.StoreMemTableSize,
	})
	if err != nil {
		if name != "" {
			return fmt.Errorf("cannot open the storage of account %q in %q: %w", name, dir, err)
		}
		return fmt.Errorf("cannot open storage in %q: %w", dir, err)
	}
	d.js = append(d.js, &accountJS{name: name, dir: dir, limits: limits, st: st})
	return nil
}

// startAPIs starts the consumers and API of every opened account, with
// the server limits computed over all their stores.
func (d *Daemon) startAPIs() error {
	log := d.srv.Logger()
	stores := make([]*store.Store, len(d.js))
	for i, a := range d.js {
		stores[i] = a.st
	}
	maxMem, maxFile := jetStreamLimits(&d.cfg, stores)
	d.maxMemory, d.maxFile = maxMem, maxFile
	var group *jsapi.Group
	if len(d.cfg.Accounts) > 0 {
		group = new(jsapi.Group)
	}
	batch := d.cfg.Batch
	batch.Inflight = new(jsapi.BatchInflight) // one count for the server
	for _, a := range d.js {
		acc := d.srv.Account(a.name)
		a.consumers = consumer.NewManager(consumerBus{acc}, slog.New(&logHandler{log: log}))
		a.consumers.SetSnapshotInterestWait(d.cfg.SnapshotInterestWait)
		var bus jsapi.Bus = serverbus.New(acc)
		var replicate jsapi.ReplicateFunc
		var place jsapi.Placer
		if d.jsc != nil {
			replicate = d.replicateFor(a)
			place = placer{d: d, account: acc.Name()}
			fb, err := d.frontBus(acc)
			if err != nil {
				return err
			}
			bus = fb
		}
		api, err := jsapi.New(bus, a.st, jsapi.Options{
			ServerName:    d.srv.Name(),
			ClusterName:   d.clusterName(),
			ServerVersion: server.CompatVersion,
			Consumers:     a.consumers,
			Logf:          log.Warnf,

			MaxMemoryStore: maxMem,
			MaxFileStore:   maxFile,
			MaxConsumers:   d.cfg.MaxConsumers,
			Account:        a.limits,
			Group:          group,
			Batch:          batch,
			Replicate:      replicate,
			Placer:         place,
		})
		if err != nil {
			if a.name != "" {
				return fmt.Errorf("cannot load the streams of account %q from %q: %w", a.name, a.dir, err)
			}
			return fmt.Errorf("cannot load streams from %q: %w", a.dir, err)
		}
		a.api = api
	}
	if d.jsc != nil {
		// $JS.API.META.LEADER.STEPDOWN, from the system account only
		// (as nats-server).
		unsub, err := d.jsc.front.ServeMeta(d.srv.Account(d.cfg.systemAccount()))
		if err != nil {
			return err
		}
		d.jscUnsubs = append(d.jscUnsubs, unsub)
	}
	return nil
}

// warnGlobalData warns when the store directory holds the data of the
// global account of a server run without accounts: with accounts, the
// global account has no JetStream, so those buckets are not served
// (they are left untouched on disk).
func (d *Daemon) warnGlobalData() {
	if _, err := os.Stat(filepath.Join(d.cfg.StoreDir, "CURRENT")); err == nil {
		d.srv.Logger().Warnf("Store directory %q holds buckets of the global account, which has no JetStream now that accounts are configured: they are not served (and not touched)", d.cfg.StoreDir)
	} else if !errors.Is(err, os.ErrNotExist) {
		d.srv.Logger().Warnf("Store directory %q: %v", d.cfg.StoreDir, err)
	}
}

// closeKV stops every account's JetStream and closes its storage.
func (d *Daemon) closeKV() {
	d.stopJSCluster()
	for _, u := range d.jscUnsubs {
		u()
	}
	d.jscUnsubs = nil
	for _, stop := range d.disabled {
		stop()
	}
	d.disabled = nil
	for _, a := range d.js {
		if a.consumers != nil {
			a.consumers.Close()
		}
		if a.api != nil {
			a.api.Close()
		}
		if err := a.st.Close(); err != nil {
			d.srv.Logger().Errorf("Closing storage in %q: %v", a.dir, err)
		}
	}
	d.closeReplicaHost() // after the APIs stopped their groups
	d.js = nil
	if d.cache != nil {
		d.cache.Release()
		d.cache = nil
	}
}
