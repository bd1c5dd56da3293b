package daemon

import (
	"github.com/cairn-db/cairn/internal/consumer"
	"github.com/cairn-db/cairn/internal/server"
)

// consumerBus adapts one account of the core server to consumer.Bus.
type consumerBus struct{ acc *server.Account }

var _ consumer.Bus = consumerBus{}

func (b consumerBus) PublishAs(routeSubj, subj, reply, hdr, data []byte) {
	b.acc.PublishAs(routeSubj, subj, reply, hdr, data)
}

func (b consumerBus) Subscribe(subj string, h func(subj, reply string, hdr, data []byte)) (func(), error) {
	sub, err := b.acc.Subscribe(subj, "", func(m *server.Msg) { h(m.Subject, m.Reply, m.Header, m.Data) })
	if err != nil {
		return nil, err
	}
	return sub.Unsubscribe, nil
}

func (b consumerBus) HasInterest(subj string) bool { return b.acc.HasInterest(subj) }
