// Package serverbus adapts the core server's in-process messaging to
// jsapi.Bus, so that jsapi itself does not import internal/server.
//
//	api, err := jsapi.New(serverbus.New(srv.Account(name)), st, opts)
package serverbus

import (
	"github.com/cairn-db/cairn/internal/jsapi"
	"github.com/cairn-db/cairn/internal/server"
)

// Bus is a jsapi.Bus over one account of a *server.Server.
type Bus struct {
	acc *server.Account
}

var _ jsapi.Bus = (*Bus)(nil)

// New returns a Bus publishing and subscribing in acc.
func New(acc *server.Account) *Bus { return &Bus{acc: acc} }

// Subscribe implements jsapi.Bus.
func (b *Bus) Subscribe(subject string, h jsapi.Handler) (func(), error) {
	sub, err := b.acc.Subscribe(subject, "", func(m *server.Msg) {
		h(m.Subject, m.Reply, m.Header, m.Data)
	})
	if err != nil {
		return nil, err
	}
	return sub.Unsubscribe, nil
}

// SubscribeCaller implements jsapi.CallerBus: h is told which client
// sent each message (nil for in-process publishes and clients without
// permissions).
func (b *Bus) SubscribeCaller(subject string, h jsapi.CallerHandler) (func(), error) {
	sub, err := b.acc.Subscribe(subject, "", func(m *server.Msg) {
		var c jsapi.Caller
		if r := m.Requester(); r != nil {
			c = r
		}
		h(c, m.Subject, m.Reply, m.Header, m.Data)
	})
	if err != nil {
		return nil, err
	}
	return sub.Unsubscribe, nil
}

var _ jsapi.CallerBus = (*Bus)(nil)

// Publish implements jsapi.Bus.
func (b *Bus) Publish(subject, reply string, hdr, data []byte) {
	b.acc.Publish(subject, reply, hdr, data)
}

var _ jsapi.Drainer = (*Bus)(nil)

// WaitDrained implements jsapi.Drainer.
func (b *Bus) WaitDrained(subject string, limit int) bool {
	return b.acc.WaitDrained(subject, limit)
}
