// Package serverbus adapts the core server's in-process messaging to
// jsapi.Bus, so that jsapi itself does not import internal/server.
//
//	api, err := jsapi.New(serverbus.New(srv.Account(name)), st, opts)
//
// On a cluster node the two kinds of in-process subscription matter
// (server.Account.Subscribe and SubscribeLocal): a Bus from New
// subscribes cluster-visibly with Subscribe (stream ingestion, direct
// get, snapshot acknowledgements and restore chunks: whoever in the
// cluster publishes there reaches this node's handler) and node-locally
// with SubscribeCaller, which jsapi uses only to register its API
// endpoints ($JS.API.…): each node's API answers its own clients, and
// requests from other nodes reach it only when forwarded to it by name
// (cluster.SendTo). A Bus from NewLocal subscribes node-locally with
// both, for a per-node service such as jsapi.ServeDisabled.
package serverbus

import (
	"github.com/cairn-db/cairn/internal/jsapi"
	"github.com/cairn-db/cairn/internal/server"
)

// Bus is a jsapi.Bus over one account of a *server.Server.
type Bus struct {
	acc   *server.Account
	local bool // Subscribe is node-local too (NewLocal)
}

var _ jsapi.Bus = (*Bus)(nil)

// New returns a Bus publishing and subscribing in acc: Subscribe is
// cluster-visible, SubscribeCaller node-local.
func New(acc *server.Account) *Bus { return &Bus{acc: acc} }

// NewLocal returns a Bus publishing and subscribing in acc whose
// subscriptions are all node-local (server.Account.SubscribeLocal).
func NewLocal(acc *server.Account) *Bus { return &Bus{acc: acc, local: true} }

// Subscribe implements jsapi.Bus: cluster-visible unless the Bus is
// from NewLocal.
func (b *Bus) Subscribe(subject string, h jsapi.Handler) (func(), error) {
	subscribe := b.acc.Subscribe
	if b.local {
		subscribe = b.acc.SubscribeLocal
	}
	sub, err := subscribe(subject, "", func(m *server.Msg) {
		h(m.Subject, m.Reply, m.Header, m.Data)
	})
	if err != nil {
		return nil, err
	}
	return sub.Unsubscribe, nil
}

// SubscribeCaller implements jsapi.CallerBus: h is told which client
// sent each message (nil for in-process publishes, messages from other
// nodes and clients without permissions). The subscription is always
// node-local (server.Account.SubscribeLocal): jsapi registers its API
// endpoints with it, and only with it.
func (b *Bus) SubscribeCaller(subject string, h jsapi.CallerHandler) (func(), error) {
	sub, err := b.acc.SubscribeLocal(subject, "", func(m *server.Msg) {
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
