package monitor

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cairn-db/cairn/internal/server"
)

// System requests. A client of the system account asks every server
// with $SYS.REQ.SERVER.PING.<ENDPOINT> (and $SYS.REQ.SERVER.PING for
// STATSZ), or one server with $SYS.REQ.SERVER.<server id>.<ENDPOINT>;
// natscli's "nats server ping|info|report …" are built on them. The
// answers come from the same methods as the HTTP endpoints, wrapped as
// nats-server wraps them (server/events.go, ServerAPIResponse):
//
//	{"server":{"name":…,"host":…,"id":…,"ver":…,"jetstream":true,"flags":1,"seq":4,"time":…},
//	 "data":{…the /varz document…}}
//
// or, for a request body that does not decode as the endpoint's options,
// {"server":{…},"error":{"code":400,"description":"<decoder's text>"}};
// an endpoint that fails (a bad sort option) answers
// {"server":{…},"data":null,"error":{"code":500,…}}. STATSZ answers
// {"server":{…},"statsz":{…}} and IDZ {"name","host","id"} without the
// envelope, as nats-server. A body that names another server (the
// filters server_name, host, cluster, tags, domain) gets no answer: the
// requester counts the servers that reply. Sys knows no NATS subjects:
// the daemon subscribes the handlers in the system account (and the
// account requests in every account) and publishes what AnswerEncoded
// returns, compressed as the request's Accept-Encoding asks
// (sys_encode.go; internal/daemon/sys.go).

// Endpoint names, as in the request subjects.
const (
	SysVarz     = "VARZ"
	SysConnz    = "CONNZ"
	SysHealthz  = "HEALTHZ"
	SysStatsz   = "STATSZ"
	SysIdz      = "IDZ"
	SysSubsz    = "SUBSZ"
	SysJsz      = "JSZ"
	SysAccountz = "ACCOUNTZ"
	SysRoutez   = "ROUTEZ"
)

// ServerInfo identifies the answering server in every reply
// (nats-server's "server" object).
type ServerInfo struct {
	Name      string `json:"name"`
	Host      string `json:"host"`
	ID        string `json:"id"`
	Cluster   string `json:"cluster,omitempty"`
	Version   string `json:"ver"`
	JetStream bool   `json:"jetstream"`
	// Flags are capability bits, nats-server's values: FlagJetStream.
	Flags uint64    `json:"flags"`
	Seq   uint64    `json:"seq"`
	Time  time.Time `json:"time"`
}

// FlagJetStream is ServerInfo.Flags' bit for JetStream on.
const FlagJetStream uint64 = 1

// SysError is the "error" object of a reply.
type SysError struct {
	Code        int    `json:"code"`
	Description string `json:"description,omitempty"`
}

// SysResponse is the envelope of every reply but STATSZ's and IDZ's.
type SysResponse struct {
	Server *ServerInfo `json:"server"`
	Data   any         `json:"data,omitempty"`
	Error  *SysError   `json:"error,omitempty"`
}

// EventFilterOptions select the servers that answer a request sent to
// all of them; every request body may carry them. Without ExactMatch a
// name, host or cluster matches when it contains the given text. A
// server alone has no cluster name, and Cairn no tags or JetStream
// domain, so a request naming any of those gets no answer.
type EventFilterOptions struct {
	Name       string   `json:"server_name,omitempty"`
	Cluster    string   `json:"cluster,omitempty"`
	Host       string   `json:"host,omitempty"`
	ExactMatch bool     `json:"exact_match,omitempty"`
	Tags       []string `json:"tags,omitempty"`
	Domain     string   `json:"domain,omitempty"`
}

func (f *EventFilterOptions) eventFilter() *EventFilterOptions { return f }

// filtered is an endpoint's options: they embed EventFilterOptions.
type filtered interface{ eventFilter() *EventFilterOptions }

// StatszEventOptions are the options of STATSZ: the filters only.
type StatszEventOptions struct {
	EventFilterOptions
}

// VarzEventOptions are the options of VARZ: the filters only.
type VarzEventOptions struct {
	EventFilterOptions
}

// ConnzEventOptions are the options of CONNZ: /connz's and the filters.
type ConnzEventOptions struct {
	ConnzOptions
	EventFilterOptions
}

// SubszEventOptions are the options of SUBSZ: /subsz's and the filters.
type SubszEventOptions struct {
	SubszOptions
	EventFilterOptions
}

// JszEventOptions are the options of JSZ: /jsz's and the filters.
type JszEventOptions struct {
	JszOptions
	EventFilterOptions
}

// AccountzEventOptions are the options of ACCOUNTZ: /accountz's and
// the filters.
type AccountzEventOptions struct {
	AccountzOptions
	EventFilterOptions
}

// Sys answers the system account's requests from a Monitor. It is safe
// for concurrent use; it holds no state but the reply sequence.
type Sys struct {
	m         *Monitor
	seq       atomic.Uint64
	endpoints map[string]func(body []byte) answer
}

// NewSys returns the system request answerer of m.
func NewSys(m *Monitor) *Sys {
	s := &Sys{m: m}
	s.endpoints = map[string]func([]byte) answer{
		SysStatsz: s.statsz,
		SysIdz:    s.idz,
		SysVarz: func(body []byte) answer {
			var o VarzEventOptions
			return s.zReq(body, &o, func() (any, error) { return m.Varz(), nil })
		},
		SysConnz: func(body []byte) answer {
			var o ConnzEventOptions
			return s.zReq(body, &o, func() (any, error) { return m.Connz(&o.ConnzOptions) })
		},
		SysSubsz: func(body []byte) answer {
			var o SubszEventOptions
			return s.zReq(body, &o, func() (any, error) { return m.Subsz(&o.SubszOptions) })
		},
		SysJsz: func(body []byte) answer {
			var o JszEventOptions
			return s.zReq(body, &o, func() (any, error) { return m.Jsz(&o.JszOptions), nil })
		},
		SysAccountz: func(body []byte) answer {
			var o AccountzEventOptions
			return s.zReq(body, &o, func() (any, error) { return m.Accountz(&o.AccountzOptions) })
		},
		SysRoutez: func(body []byte) answer {
			var o RoutezEventOptions
			return s.zReq(body, &o, func() (any, error) { return m.Routez(&o.RoutezOptions), nil })
		},
		SysHealthz: func(body []byte) answer {
			var o HealthzEventOptions
			return s.zReq(body, &o, func() (any, error) { return m.sysHealthz(&o.HealthzOptions), nil })
		},
	}
	return s
}

// Endpoints returns the names of the endpoints answered, sorted.
func (s *Sys) Endpoints() []string {
	names := make([]string, 0, len(s.endpoints))
	for name := range s.endpoints {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Answer answers a request to endpoint whose payload is body (empty:
// the defaults). It returns the reply's payload, or nil when this
// server does not answer: an endpoint it does not serve, or filters in
// body that exclude it. It may take as long as a health check of the
// stores (Options.HealthTimeout).
func (s *Sys) Answer(endpoint string, body []byte) []byte {
	return s.AnswerEncoded(endpoint, body, "").Payload
}

// Reply is an answer to send: its payload and the value of its
// Content-Encoding header ("": no header).
type Reply struct {
	Payload         []byte
	ContentEncoding string
}

// AnswerEncoded is Answer for a request whose Accept-Encoding header
// is acceptEncoding: a successful answer of the monitoring endpoints is
// compressed as nats-server does (sys_encode.go); STATSZ's, IDZ's and
// errors never are.
func (s *Sys) AnswerEncoded(endpoint string, body []byte, acceptEncoding string) Reply {
	h := s.endpoints[endpoint]
	if h == nil {
		return Reply{}
	}
	return h(body).encode(acceptEncoding)
}

// AnswerAccount answers a request about one account: CONNZ lists its
// connections, SUBSZ its subscriptions (the answers nats-server gives
// to $SYS.REQ.ACCOUNT.<account>.CONNZ|SUBSZ, and to any account's
// $SYS.REQ.SERVER.PING.CONNZ about itself). It returns nil for other
// endpoints, and as Answer does for filters.
func (s *Sys) AnswerAccount(endpoint, account string, body []byte) []byte {
	return s.AnswerAccountEncoded(endpoint, account, body, "").Payload
}

// AnswerAccountEncoded is AnswerAccount for a request whose
// Accept-Encoding header is acceptEncoding (AnswerEncoded).
func (s *Sys) AnswerAccountEncoded(endpoint, account string, body []byte, acceptEncoding string) Reply {
	var a answer
	switch endpoint {
	case SysConnz:
		var o ConnzEventOptions
		a = s.zReq(body, &o, func() (any, error) {
			o.ConnzOptions.Account = account
			return s.m.Connz(&o.ConnzOptions)
		})
	case SysSubsz:
		var o SubszEventOptions
		a = s.zReq(body, &o, func() (any, error) {
			o.SubszOptions.Account, o.SubszOptions.Subscriptions = account, true
			return s.m.Subsz(&o.SubszOptions)
		})
	}
	return a.encode(acceptEncoding)
}

// zReq decodes body into opts, applies its filters and wraps what data
// returns, as nats-server's monitoring requests do: a body that does
// not decode is a 400 without data, an error of data a 500 beside
// whatever data returned (a nil document: "data":null).
func (s *Sys) zReq(body []byte, opts filtered, data func() (any, error)) answer {
	var resp SysResponse
	if len(body) > 0 {
		if err := json.Unmarshal(body, opts); err != nil {
			resp.Error = &SysError{Code: http.StatusBadRequest, Description: err.Error()}
			return answer{payload: s.reply(&resp.Server, &resp)}
		}
		if !s.selected(opts.eventFilter()) {
			return answer{}
		}
	}
	d, err := data()
	resp.Data = d
	if err != nil {
		resp.Error = &SysError{Code: http.StatusInternalServerError, Description: err.Error()}
	}
	return answer{payload: s.reply(&resp.Server, &resp), compressible: err == nil}
}

// reply sets *si to this server's identity with the next sequence
// number and encodes v.
func (s *Sys) reply(si **ServerInfo, v any) []byte {
	core := s.m.opts.Core
	set := core.Settings()
	info := &ServerInfo{
		Name:      core.Name(),
		Host:      set.Host,
		ID:        core.ID(),
		Cluster:   s.m.clusterName(),
		Version:   server.CompatVersion,
		JetStream: set.JetStream,
		Seq:       s.seq.Add(1),
		Time:      time.Now().UTC(),
	}
	if set.JetStream {
		info.Flags |= FlagJetStream
	}
	*si = info
	b, err := json.Marshal(v)
	if err != nil {
		// Only a value json cannot encode (a NaN); never one of ours.
		s.m.opts.Logger.Errorf("Error marshaling the answer to a system request: %v", err)
		return nil
	}
	return b
}

// selected reports whether the filters f select this server.
func (s *Sys) selected(f *EventFilterOptions) bool {
	core := s.m.opts.Core
	name, host := core.Name(), core.Settings().Host
	match := func(have, want string) bool {
		if want == "" {
			return true
		}
		if f.ExactMatch {
			return have == want
		}
		return strings.Contains(have, want)
	}
	// No tags or domain: any asked for excludes Cairn.
	return match(name, f.Name) && match(host, f.Host) && match(s.m.clusterName(), f.Cluster) &&
		len(f.Tags) == 0 && f.Domain == ""
}

// ServerID is IDZ's answer.
type ServerID struct {
	Name string `json:"name"`
	Host string `json:"host"`
	ID   string `json:"id"`
}

// idz answers IDZ whatever the body, as nats-server.
func (s *Sys) idz([]byte) answer {
	core := s.m.opts.Core
	b, _ := json.Marshal(&ServerID{Name: core.Name(), Host: core.Settings().Host, ID: core.ID()})
	return answer{payload: b}
}
