package monitor

import (
	"math"
	"net/http"
	"time"

	"github.com/cairn-db/cairn/internal/jsapi"
)

// JszPath is /jsz's path.
const JszPath = "/jsz"

// DefaultJszLimit is the default page of accounts of /jsz, as
// nats-server's.
const DefaultJszLimit = 1024

// JSInfo is the answer of /jsz (nats-server's field names and types):
// the server's JetStream configuration and usage, the totals over every
// account, and with accounts=true a page of account details.
//
// meta_cluster is the metadata group on a cluster node (cluster.go),
// left out on a server alone as by nats-server.
//
// Not reported: limits, streams_leader and consumers_leader.
type JSInfo struct {
	JetStreamStats
	ID        string          `json:"server_id"`
	Now       time.Time       `json:"now"`
	Disabled  bool            `json:"disabled,omitempty"`
	Config    JetStreamConfig `json:"config"`
	Streams   int             `json:"streams"`
	Consumers int             `json:"consumers"`
	Messages  uint64          `json:"messages"`
	Bytes     uint64          `json:"bytes"`
	// Meta is the metadata group, nil for a server alone.
	Meta *MetaClusterInfo `json:"meta_cluster,omitempty"`
	// AccountDetails are the accounts asked for, by name.
	AccountDetails []*AccountDetail `json:"account_details,omitempty"`
	// Total is the number of accounts with JetStream.
	Total int `json:"total"`
}

// AccountDetail is one account of /jsz. Its reserved_memory and
// reserved_storage are the account's limits, the largest uint64 where
// it has none (nats-server's -1 read as unsigned); api.level is 0 as
// nats-server's.
type AccountDetail struct {
	Name string `json:"name"`
	ID   string `json:"id"`
	JetStreamStats
	Streams []StreamDetail `json:"stream_detail,omitempty"`
}

// StreamDetail is one stream of an account detail (streams=true); its
// config is there with config=true and its consumers with
// consumers=true.
type StreamDetail struct {
	Name      string              `json:"name"`
	Created   time.Time           `json:"created"`
	Cluster   *jsapi.ClusterInfo  `json:"cluster,omitempty"`
	Config    *jsapi.StreamConfig `json:"config,omitempty"`
	State     jsapi.StreamState   `json:"state"`
	Consumers []*ConsumerDetail   `json:"consumer_detail,omitempty"`
}

// ConsumerDetail is a consumer's info as CONSUMER.INFO answers it,
// with its config only with config=true and without cluster, as
// nats-server's /jsz.
type ConsumerDetail struct {
	*jsapi.ConsumerInfo
	Config  *jsapi.ConsumerConfig `json:"config,omitempty"`
	Cluster *jsapi.ClusterInfo    `json:"cluster,omitempty"`
}

// JszAccount is one account with JetStream, as the JetStream side
// reports it to the monitor.
type JszAccount struct {
	// Name is the account's name ("$G" for the global account).
	Name  string
	Usage jsapi.Usage
	// MaxMemory and MaxStore are the account's limits, -1 for none.
	MaxMemory, MaxStore int64
	// Streams are the account's streams by name, with their consumers
	// when asked.
	Streams []jsapi.StreamDetail
}

// JszOptions select the /jsz answer; the JSON names are nats-server's.
// LeaderOnly, StreamLeaderOnly, RaftGroups and DirectConsumer are
// accepted and change nothing: a single server leads every stream and
// has no Raft groups or direct consumers.
type JszOptions struct {
	// Account (acc) names the one account to detail.
	Account string `json:"account,omitempty"`
	// Accounts lists the account details (a page of them: Offset,
	// Limit; Limit 0 is 1024, a negative one all).
	Accounts bool `json:"accounts,omitempty"`
	// Streams adds each account's streams, Consumer their consumers
	// (and implies Streams), Config their configurations.
	Streams          bool `json:"streams,omitempty"`
	Consumer         bool `json:"consumer,omitempty"`
	DirectConsumer   bool `json:"direct_consumer,omitempty"`
	Config           bool `json:"config,omitempty"`
	LeaderOnly       bool `json:"leader_only,omitempty"`
	Offset           int  `json:"offset,omitempty"`
	Limit            int  `json:"limit,omitempty"`
	RaftGroups       bool `json:"raft,omitempty"`
	StreamLeaderOnly bool `json:"stream_leader_only,omitempty"`
}

// handleJsz answers /jsz with the parameters acc, accounts, streams,
// consumers, config, offset and limit (and nats-server's
// direct-consumers, leader-only, raft and stream-leader-only, checked
// and without effect).
func (m *Monitor) handleJsz(w http.ResponseWriter, r *http.Request) {
	m.count(JszPath)
	o := JszOptions{Account: r.URL.Query().Get("acc")}
	for _, p := range []struct {
		name string
		dst  *bool
	}{
		{"accounts", &o.Accounts}, {"streams", &o.Streams}, {"consumers", &o.Consumer},
		{"direct-consumers", &o.DirectConsumer}, {"config", &o.Config}, {"leader-only", &o.LeaderOnly},
		{"raft", &o.RaftGroups}, {"stream-leader-only", &o.StreamLeaderOnly},
	} {
		var ok bool
		if *p.dst, ok = queryBool(w, r, p.name); !ok {
			return
		}
	}
	var ok bool
	if o.Offset, ok = queryInt(w, r, "offset"); !ok {
		return
	}
	if o.Limit, ok = queryInt(w, r, "limit"); !ok {
		return
	}
	m.respondJSON(w, JszPath, m.Jsz(&o))
}

// Jsz returns the /jsz document for opts (nil: the defaults), with
// nats-server's rules: consumers imply streams, streams without an
// account imply accounts, a named account that exists is detailed
// alone.
func (m *Monitor) Jsz(opts *JszOptions) *JSInfo {
	var o JszOptions
	if opts != nil {
		o = *opts
	}
	o.Offset = max(o.Offset, 0)
	if o.Limit == 0 {
		o.Limit = DefaultJszLimit
	}
	o.Streams = o.Streams || o.Consumer
	o.Accounts = o.Accounts || (o.Streams && o.Account == "")
	info := &JSInfo{ID: m.opts.Core.ID(), Now: time.Now().UTC()}
	js := m.opts.JetStream
	if js == nil {
		info.Disabled = true
		return info
	}
	v := js.Varz()
	if v.Config != nil {
		info.Config = *v.Config
	}
	if v.Stats != nil {
		info.JetStreamStats = *v.Stats
	}
	info.Meta = m.metaCluster()
	accounts := js.JszAccounts(o.Consumer)
	info.Total = len(accounts)
	var picked []JszAccount
	for _, a := range accounts {
		info.Streams += len(a.Streams)
		for _, s := range a.Streams {
			info.Messages += s.State.Msgs
			info.Bytes += s.State.Bytes
			info.Consumers += s.State.Consumers
		}
		if o.Account != "" && a.Name == o.Account {
			picked = []JszAccount{a}
		}
	}
	switch {
	case picked != nil:
	case o.Accounts && o.Limit > 0:
		picked = page(accounts, o.Offset, o.Limit)
	case o.Accounts:
		picked = accounts
	}
	for _, a := range picked {
		info.AccountDetails = append(info.AccountDetails, accountDetail(a, &o))
	}
	return info
}

// accountDetail renders one account of /jsz.
func accountDetail(a JszAccount, o *JszOptions) *AccountDetail {
	d := &AccountDetail{Name: a.Name, ID: a.Name, JetStreamStats: JetStreamStats{
		Memory: a.Usage.Memory, Store: a.Usage.Storage,
		ReservedMemory: reserved(a.MaxMemory), ReservedStore: reserved(a.MaxStore),
		API: JetStreamAPIStats{Total: a.Usage.APITotal, Errors: a.Usage.APIErrors},
	}}
	if !o.Streams {
		return d
	}
	d.Streams = make([]StreamDetail, 0, len(a.Streams))
	for _, s := range a.Streams {
		sd := StreamDetail{Name: s.Name, Created: s.Created.UTC(), Cluster: s.Cluster, State: s.State}
		if o.Config {
			cfg := s.Config
			sd.Config = &cfg
		}
		for _, c := range s.Consumers {
			cd := &ConsumerDetail{ConsumerInfo: c}
			if o.Config {
				cd.Config = &c.Config
			}
			sd.Consumers = append(sd.Consumers, cd)
		}
		d.Streams = append(d.Streams, sd)
	}
	return d
}

// reserved reads a limit as nats-server reports it: -1 (none) is the
// largest uint64.
func reserved(limit int64) uint64 {
	if limit < 0 {
		return math.MaxUint64
	}
	return uint64(limit)
}
