package jsfront

import (
	"github.com/cairn-db/cairn/internal/jsapi"
	"github.com/cairn-db/cairn/internal/jsapi/serverbus"
	"github.com/cairn-db/cairn/internal/server"
)

// Bus is the jsapi bus of one account on a cluster node: the API's
// endpoints subscribe through the front (SubscribeCaller), everything
// else is serverbus's.
type Bus struct {
	*serverbus.Bus
	acc *server.Account
	f   *Front
}

var (
	_ jsapi.CallerBus = (*Bus)(nil)
	_ jsapi.Drainer   = (*Bus)(nil)
)

// Bus returns the account's bus, and subscribes the front's inbox in
// the account; the returned function removes that subscription.
func (f *Front) Bus(acc *server.Account) (*Bus, func(), error) {
	account := acc.Name()
	sub, err := acc.Subscribe(f.inbox+">", "", func(m *server.Msg) { f.Answer(account, m.Subject, m.Data) })
	if err != nil {
		return nil, nil, err
	}
	return &Bus{Bus: serverbus.New(acc), acc: acc, f: f}, sub.Unsubscribe, nil
}

// SubscribeCaller implements jsapi.CallerBus: a node-local subscription
// whose requests the front routes. A request that came over a route was
// routed by the node that received it and is answered here, with the
// permissions that node recorded.
func (b *Bus) SubscribeCaller(subject string, h jsapi.CallerHandler) (func(), error) {
	account := b.acc.Name()
	sub, err := b.acc.SubscribeLocal(subject, "", func(m *server.Msg) {
		if m.FromRoute {
			// Answered here, never routed again: a forwarded request
			// takes one hop. A follower of a replicated stream stays
			// silent; the leader answers.
			answer := func(subject, reply string, hdr, data []byte) {
				if b.f.dropAtFollower(account, subject) || b.f.placedElsewhere(account, subject, reply) {
					return
				}
				h(callerFrom(hdr), subject, reply, hdr, data)
				_, stream := classify(subject)
				b.f.served(account, subject, stream)
			}
			if b.f.unknownHere(account, m.Subject) {
				b.f.answerWhenSynced(m.Subject, m.Reply, m.Header, m.Data, answer)
				return
			}
			answer(m.Subject, m.Reply, m.Header, m.Data)
			return
		}
		var c jsapi.Caller
		if r := m.Requester(); r != nil {
			c = r
		}
		r := &request{account: account, subject: m.Subject, reply: m.Reply, hdr: stripCaller(m.Header), data: m.Data, caller: c}
		r.local = func(c jsapi.Caller, hdr []byte) { h(c, r.subject, r.reply, hdr, r.data) }
		b.f.route(r)
	})
	if err != nil {
		return nil, err
	}
	return sub.Unsubscribe, nil
}
