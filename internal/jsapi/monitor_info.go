package jsapi

import (
	"time"

	"github.com/cairn-db/cairn/internal/consumer"
)

// StreamDetail is one stream as monitoring (/jsz) reports it: the
// configuration and state that STREAM.LIST answers, and the consumers'
// info as CONSUMER.INFO answers it.
type StreamDetail struct {
	Name    string
	Created time.Time
	Cluster *ClusterInfo
	Config  StreamConfig
	State   StreamState
	// Consumers are the stream's consumers by name; nil unless asked.
	Consumers []*ConsumerInfo
}

// StreamDetails returns the account's streams by name, with their
// consumers when withConsumers. It reads no message: the state comes
// from the store's counters. Safe for concurrent use.
func (a *API) StreamDetails(withConsumers bool) []StreamDetail {
	streams := a.filteredStreams("")
	out := make([]StreamDetail, 0, len(streams))
	for _, s := range streams {
		info := s.info(false)
		d := StreamDetail{
			Name: s.name, Created: info.Created, Cluster: s.clusterInfo(),
			Config: info.Config, State: info.State,
		}
		if withConsumers && a.consumers != nil {
			for _, c := range a.consumers.List(s.name) {
				d.Consumers = append(d.Consumers, a.monitorConsumerInfo(c))
			}
		}
		out = append(out, d)
	}
	return out
}

// monitorConsumerInfo is consumerInfoOf for monitoring: the same
// fields from the consumer's current state (consumer.CurrentInfo),
// which leaves the create response's own state alone, and the ack
// floor as nats-server's /jsz shows it.
func (a *API) monitorConsumerInfo(c *consumer.Consumer) *ConsumerInfo {
	in := c.CurrentInfo()
	info := &ConsumerInfo{
		Stream:     in.Stream,
		Name:       in.Name,
		Created:    in.Created,
		Config:     *jsonConsumerConfig(in.Config),
		Delivered:  SequenceInfo{Consumer: in.Delivered.Consumer, Stream: in.Delivered.Stream},
		AckFloor:   SequenceInfo{Consumer: in.Delivered.Consumer, Stream: in.Delivered.Stream},
		NumPending: in.NumPending,
		Cluster:    &ClusterInfo{Name: a.opts.ClusterName, Leader: a.opts.ServerName},
		PushBound:  in.PushBound,
		TimeStamp:  now(),
	}
	if !in.Delivered.Last.IsZero() {
		// Without acknowledgements nats-server's ack floor has no
		// last_active.
		last := in.Delivered.Last.UTC()
		info.Delivered.Last = &last
	}
	return info
}
