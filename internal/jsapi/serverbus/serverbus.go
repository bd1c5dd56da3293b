// Package serverbus adapts the core server's in-process messaging to
// jsapi.Bus, so that jsapi itself does not import internal/server.
//
//	api, err := jsapi.New(serverbus.New(srv), st, opts)
package serverbus

import (
	"github.com/cairn-db/cairn/internal/jsapi"
	"github.com/cairn-db/cairn/internal/server"
)

// Bus is a jsapi.Bus over a *server.Server.
type Bus struct {
	srv *server.Server
}

var _ jsapi.Bus = (*Bus)(nil)

// New returns a Bus publishing and subscribing through srv.
func New(srv *server.Server) *Bus { return &Bus{srv: srv} }

// Subscribe implements jsapi.Bus.
func (b *Bus) Subscribe(subject string, h jsapi.Handler) (func(), error) {
	sub, err := b.srv.Subscribe(subject, "", func(m *server.Msg) {
		h(m.Subject, m.Reply, m.Header, m.Data)
	})
	if err != nil {
		return nil, err
	}
	return sub.Unsubscribe, nil
}

// Publish implements jsapi.Bus.
func (b *Bus) Publish(subject, reply string, hdr, data []byte) {
	b.srv.Publish(subject, reply, hdr, data)
}
