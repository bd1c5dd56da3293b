package diff

import (
	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/jsapi"
	"github.com/cairn-db/cairn/internal/jsapi/serverbus"
	"github.com/cairn-db/cairn/internal/server"
	"github.com/cairn-db/cairn/internal/store"
)

// assembly is server + store + jsapi, assembled as the daemon will.
// TODO: use daemon.Start once the daemon wires in the store and jsapi.
type assembly struct {
	srv *server.Server
	st  *store.Store
	api *jsapi.API
}

func startAssembly(cfg daemon.Config) (*assembly, error) {
	cfg.Server.JetStream = true
	srv, err := server.New(cfg.Server)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(cfg.StoreDir, store.Options{SyncInterval: cfg.SyncInterval, SyncAlways: cfg.SyncAlways})
	if err != nil {
		return nil, err
	}
	api, err := jsapi.New(serverbus.New(srv), st, jsapi.Options{ServerName: srv.ID()})
	if err != nil {
		st.Close()
		return nil, err
	}
	if err := srv.Start(); err != nil {
		api.Close()
		st.Close()
		return nil, err
	}
	return &assembly{srv: srv, st: st, api: api}, nil
}

func (a *assembly) ClientURL() string { return a.srv.ClientURL() }

func (a *assembly) Shutdown() {
	a.srv.Shutdown()
	a.api.Close()
	a.st.Close()
}
