package monitor

import (
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"time"
)

// ServerStatsMsg is STATSZ's answer (and $SYS.REQ.SERVER.PING's):
// nats-server's ServerStatsMsg, without the envelope's data and error.
// natscli's "server ping" prints Server.Name per answer and counts
// them; "server list" reads the counters.
type ServerStatsMsg struct {
	Server *ServerInfo  `json:"server"`
	Stats  *ServerStats `json:"statsz"`
}

// ServerStats are the server's counters, under nats-server's names.
// Messages are those of client connections (server.Stats), so sent
// and sent_to_clients are equal, as are received and
// received_from_clients. ActiveAccounts counts the accounts with a
// connection open; ActiveServers is 1 plus the connected routes, and
// Routes are those routes (cluster.go), left out for a server alone.
// On a cluster node, jetstream.meta is the metadata group, without its
// replicas unless this node leads it, as nats-server.
type ServerStats struct {
	Start                time.Time             `json:"start"`
	Mem                  int64                 `json:"mem"`
	Cores                int                   `json:"cores"`
	CPU                  float64               `json:"cpu"`
	Connections          int                   `json:"connections"`
	TotalConnections     uint64                `json:"total_connections"`
	ActiveAccounts       int                   `json:"active_accounts"`
	NumSubs              uint32                `json:"subscriptions"`
	Sent                 DataStats             `json:"sent"`
	SentToClients        DataStats             `json:"sent_to_clients"`
	Received             DataStats             `json:"received"`
	ReceivedFromClients  DataStats             `json:"received_from_clients"`
	SlowConsumers        int64                 `json:"slow_consumers"`
	SlowConsumersStats   *SlowConsumersStats   `json:"slow_consumer_stats,omitempty"`
	StaleConnections     int64                 `json:"stale_connections,omitempty"`
	StaleConnectionStats *StaleConnectionStats `json:"stale_connection_stats,omitempty"`
	Routes               []*RouteStat          `json:"routes,omitempty"`
	ActiveServers        int                   `json:"active_servers,omitempty"`
	JetStream            *JetStreamVarz        `json:"jetstream,omitempty"`
	MaxProcs             int                   `json:"gomaxprocs,omitempty"`
}

// DataStats count messages and their bytes.
type DataStats struct {
	Msgs  int64 `json:"msgs"`
	Bytes int64 `json:"bytes"`
}

// Statsz returns the server's statistics now.
func (m *Monitor) Statsz() *ServerStats {
	core := m.opts.Core
	st := core.Stats()
	accounts := map[string]bool{}
	for _, c := range core.Conns(false) {
		accounts[c.Account] = true
	}
	out := &ServerStats{
		Start:               st.Start.UTC(),
		Cores:               runtime.NumCPU(),
		Connections:         st.Connections,
		TotalConnections:    st.TotalConnections,
		ActiveAccounts:      len(accounts),
		NumSubs:             uint32(st.Subscriptions),
		Sent:                DataStats{Msgs: st.OutMsgs, Bytes: st.OutBytes},
		SentToClients:       DataStats{Msgs: st.OutMsgs, Bytes: st.OutBytes},
		Received:            DataStats{Msgs: st.InMsgs, Bytes: st.InBytes},
		ReceivedFromClients: DataStats{Msgs: st.InMsgs, Bytes: st.InBytes},
		SlowConsumers:       st.SlowConsumers,
		StaleConnections:    st.StaleConnections,
		Routes:              m.routeStats(),
		MaxProcs:            runtime.GOMAXPROCS(0),
	}
	out.ActiveServers = 1 + len(out.Routes)
	if st.SlowConsumers > 0 {
		out.SlowConsumersStats = &SlowConsumersStats{Clients: uint64(st.SlowConsumers)}
	}
	if st.StaleConnections > 0 {
		out.StaleConnectionStats = &StaleConnectionStats{Clients: uint64(st.StaleConnections)}
	}
	out.Mem, out.CPU = m.proc.sample(time.Now())
	if js := m.opts.JetStream; js != nil {
		v := js.Varz()
		if v.Config != nil {
			// As nats-server's statsz: the store directory is left out.
			cfg := *v.Config
			cfg.StoreDir = ""
			v.Config = &cfg
		}
		if meta := m.metaCluster(); meta != nil {
			if meta.Leader != core.Name() {
				meta.Replicas = nil
			}
			v.Meta = meta
		}
		out.JetStream = &v
	}
	return out
}

// statsz answers STATSZ: a body that does not decode is a 400 in the
// envelope, filters that exclude this server no answer.
func (s *Sys) statsz(body []byte) answer {
	if len(body) > 0 {
		var o StatszEventOptions
		if err := json.Unmarshal(body, &o); err != nil {
			resp := SysResponse{Error: &SysError{Code: http.StatusBadRequest, Description: err.Error()}}
			return answer{payload: s.reply(&resp.Server, &resp)}
		}
		if !s.selected(&o.EventFilterOptions) {
			return answer{}
		}
	}
	msg := ServerStatsMsg{Stats: s.m.Statsz()}
	return answer{payload: s.reply(&msg.Server, &msg)}
}

// HealthzOptions are HEALTHZ's options, /healthz's query parameters
// under nats-server's JSON names. Stream and Consumer are checked for
// consistency only (single streams are not checked yet); JSMetaOnly is
// JSEnabledOnly on a single server.
type HealthzOptions struct {
	JSEnabled     bool   `json:"js-enabled,omitempty"`
	JSEnabledOnly bool   `json:"js-enabled-only,omitempty"`
	JSServerOnly  bool   `json:"js-server-only,omitempty"`
	JSMetaOnly    bool   `json:"js-meta-only,omitempty"`
	Account       string `json:"account,omitempty"`
	Stream        string `json:"stream,omitempty"`
	Consumer      string `json:"consumer,omitempty"`
	Details       bool   `json:"details,omitempty"`
}

// HealthzEventOptions are the options of HEALTHZ: HealthzOptions and
// the filters.
type HealthzEventOptions struct {
	HealthzOptions
	EventFilterOptions
}

// SysHealthStatus is HEALTHZ's document: /healthz's, with the HTTP
// status it would have answered (nats-server adds it to the system
// request's answer only).
type SysHealthStatus struct {
	Status     string         `json:"status"`
	StatusCode int            `json:"status_code,omitempty"`
	Error      string         `json:"error,omitempty"`
	Errors     []HealthzError `json:"errors,omitempty"`
}

// sysHealthz checks health as /healthz does for the same options.
func (m *Monitor) sysHealthz(o *HealthzOptions) *SysHealthStatus {
	code, kind, err := http.StatusOK, "", error(nil)
	switch {
	case o.Account == "" && o.Stream != "":
		code, kind, err = http.StatusBadRequest, "BAD_REQUEST", fmt.Errorf("%q must not be empty when checking stream health", "account")
	case o.Stream == "" && o.Consumer != "":
		code, kind, err = http.StatusBadRequest, "BAD_REQUEST", fmt.Errorf("%q must not be empty when checking consumer health", "stream")
	case o.JSServerOnly || m.opts.JetStream == nil || o.JSEnabled || o.JSEnabledOnly || o.JSMetaOnly:
	default:
		if err = m.health.check(m.opts.JetStream, m.opts.HealthTimeout); err != nil {
			code, kind = http.StatusServiceUnavailable, "JETSTREAM"
		}
	}
	hs := &SysHealthStatus{Status: "ok", StatusCode: code}
	switch {
	case err != nil && o.Details:
		hs.Status = "error"
		hs.Errors = []HealthzError{{Type: kind, Error: err.Error()}}
	case err != nil && code == http.StatusBadRequest:
		hs.Status, hs.Error = "error", err.Error()
	case err != nil:
		hs.Status, hs.Error = "unavailable", err.Error()
	}
	if err != nil {
		m.opts.Logger.Warnf("Healthcheck failed: %q", err.Error())
	}
	return hs
}
