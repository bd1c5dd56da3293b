package monitor

import (
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"time"

	"github.com/cairn-db/cairn/internal/server"
)

// Varz is the answer of /varz: nats-server's field names and JSON types
// for what Cairn has. Durations are encoded as nats-server encodes them:
// ping_interval and write_deadline as integer nanoseconds (Go's
// time.Duration), auth_timeout and tls_timeout as float seconds.
//
// cluster is the cluster object (ClusterOptsVarz; empty for a server
// alone, as nats-server's) and routes the connected routes.
//
// Not reported (nats-server's fields that have no meaning in Cairn yet):
// gateway, leaf, mqtt, websocket, connect_urls, ip, git_commit,
// http_base_path, system_account, trusted operators, tags, metadata,
// ocsp_peer_cache, tls_cert_not_after, disk_io_wait_stats, proxies,
// pinned_account_fails, gomemlimit, write_timeout, stalled_clients, and
// in jetstream limits.
type Varz struct {
	ID               string                `json:"server_id"`
	Name             string                `json:"server_name"`
	Version          string                `json:"version"`
	Proto            int                   `json:"proto"`
	GoVersion        string                `json:"go"`
	Host             string                `json:"host"`
	Port             int                   `json:"port"`
	AuthRequired     bool                  `json:"auth_required,omitempty"`
	TLSRequired      bool                  `json:"tls_required,omitempty"`
	TLSVerify        bool                  `json:"tls_verify,omitempty"`
	MaxConn          int                   `json:"max_connections"`
	MaxSubs          int                   `json:"max_subscriptions,omitempty"`
	PingInterval     time.Duration         `json:"ping_interval"`
	MaxPingsOut      int                   `json:"ping_max"`
	HTTPHost         string                `json:"http_host"`
	HTTPPort         int                   `json:"http_port"`
	HTTPBasePath     string                `json:"http_base_path"`
	HTTPSPort        int                   `json:"https_port"`
	AuthTimeout      float64               `json:"auth_timeout"`
	MaxControlLine   int32                 `json:"max_control_line"`
	MaxPayload       int                   `json:"max_payload"`
	MaxPending       int64                 `json:"max_pending"`
	Cluster          ClusterOptsVarz       `json:"cluster"`
	JetStream        JetStreamVarz         `json:"jetstream"`
	TLSTimeout       float64               `json:"tls_timeout"`
	WriteDeadline    time.Duration         `json:"write_deadline"`
	Start            time.Time             `json:"start"`
	Now              time.Time             `json:"now"`
	Uptime           string                `json:"uptime"`
	Mem              int64                 `json:"mem"`
	Cores            int                   `json:"cores"`
	MaxProcs         int                   `json:"gomaxprocs"`
	CPU              float64               `json:"cpu"`
	Connections      int                   `json:"connections"`
	TotalConnections uint64                `json:"total_connections"`
	Routes           int                   `json:"routes"`
	Remotes          int                   `json:"remotes"`
	Leafs            int                   `json:"leafnodes"`
	InMsgs           int64                 `json:"in_msgs"`
	InBytes          int64                 `json:"in_bytes"`
	InClientMsgs     int64                 `json:"in_client_msgs"`
	InClientBytes    int64                 `json:"in_client_bytes"`
	OutMsgs          int64                 `json:"out_msgs"`
	OutBytes         int64                 `json:"out_bytes"`
	OutClientMsgs    int64                 `json:"out_client_msgs"`
	OutClientBytes   int64                 `json:"out_client_bytes"`
	SlowConsumers    int64                 `json:"slow_consumers"`
	StaleConnections int64                 `json:"stale_connections"`
	Subscriptions    uint32                `json:"subscriptions"`
	HTTPReqStats     map[string]uint64     `json:"http_req_stats"`
	ConfigLoadTime   time.Time             `json:"config_load_time"`
	SlowConsumerStat *SlowConsumersStats   `json:"slow_consumer_stats"`
	StaleConnStats   *StaleConnectionStats `json:"stale_connection_stats,omitempty"`
}

// SlowConsumersStats and StaleConnectionStats split the counts by kind
// of connection; Cairn has clients only.
type SlowConsumersStats struct {
	Clients  uint64 `json:"clients"`
	Routes   uint64 `json:"routes"`
	Gateways uint64 `json:"gateways"`
	Leafs    uint64 `json:"leafs"`
}

// StaleConnectionStats: see SlowConsumersStats.
type StaleConnectionStats struct {
	Clients  uint64 `json:"clients"`
	Routes   uint64 `json:"routes"`
	Gateways uint64 `json:"gateways"`
	Leafs    uint64 `json:"leafs"`
}

// JetStreamVarz is the jetstream object of /varz; both parts are nil
// (and left out) when JetStream is off. Meta is the metadata group on
// a cluster node (set by the monitor, not by JetStream.Varz).
type JetStreamVarz struct {
	Config *JetStreamConfig `json:"config,omitempty"`
	Stats  *JetStreamStats  `json:"stats,omitempty"`
	Meta   *MetaClusterInfo `json:"meta,omitempty"`
}

// JetStreamConfig is the server's JetStream configuration.
type JetStreamConfig struct {
	MaxMemory    int64         `json:"max_memory"`
	MaxStore     int64         `json:"max_storage"`
	StoreDir     string        `json:"store_dir,omitempty"`
	SyncInterval time.Duration `json:"sync_interval,omitempty"`
	SyncAlways   bool          `json:"sync_always,omitempty"`
}

// JetStreamStats is the usage of every account together.
type JetStreamStats struct {
	Memory         uint64            `json:"memory"`
	Store          uint64            `json:"storage"`
	ReservedMemory uint64            `json:"reserved_memory"`
	ReservedStore  uint64            `json:"reserved_storage"`
	Accounts       int               `json:"accounts"`
	HAAssets       int               `json:"ha_assets"`
	API            JetStreamAPIStats `json:"api"`
}

// JetStreamAPIStats count the JetStream API requests since start.
type JetStreamAPIStats struct {
	Level  int    `json:"level"`
	Total  uint64 `json:"total"`
	Errors uint64 `json:"errors"`
}

func (m *Monitor) handleVarz(w http.ResponseWriter, r *http.Request) {
	m.count(VarzPath)
	b, err := json.MarshalIndent(m.Varz(), "", "  ")
	if err != nil {
		m.opts.Logger.Errorf("Error marshaling response to /varz request: %v", err)
	}
	respond(w, http.StatusOK, b)
}

// Varz returns the /varz document now.
func (m *Monitor) Varz() *Varz {
	core := m.opts.Core
	set := core.Settings()
	st := core.Stats()
	now := time.Now()
	v := &Varz{
		ID:               core.ID(),
		Name:             core.Name(),
		Version:          server.CompatVersion, // as INFO
		Proto:            1,
		GoVersion:        runtime.Version(),
		Host:             set.Host,
		Port:             set.Port,
		AuthRequired:     set.AuthRequired,
		TLSRequired:      set.TLSRequired,
		TLSVerify:        set.TLSVerify,
		MaxConn:          set.MaxConnections,
		MaxSubs:          set.MaxSubscriptions,
		PingInterval:     set.PingInterval,
		MaxPingsOut:      set.MaxPingsOut,
		HTTPHost:         m.opts.Host,
		HTTPPort:         m.Port(),
		AuthTimeout:      set.AuthTimeout.Seconds(),
		MaxControlLine:   int32(set.MaxControlLine),
		MaxPayload:       set.MaxPayload,
		MaxPending:       int64(set.MaxPending),
		TLSTimeout:       set.TLSTimeout.Seconds(),
		WriteDeadline:    set.WriteDeadline,
		Start:            st.Start.UTC(),
		Now:              now.UTC(),
		Uptime:           uptime(now.Sub(st.Start)),
		Cores:            runtime.NumCPU(),
		MaxProcs:         runtime.GOMAXPROCS(0),
		Connections:      st.Connections,
		TotalConnections: st.TotalConnections,
		InMsgs:           st.InMsgs,
		InBytes:          st.InBytes,
		InClientMsgs:     st.InMsgs,
		InClientBytes:    st.InBytes,
		OutMsgs:          st.OutMsgs,
		OutBytes:         st.OutBytes,
		OutClientMsgs:    st.OutMsgs,
		OutClientBytes:   st.OutBytes,
		SlowConsumers:    st.SlowConsumers,
		StaleConnections: st.StaleConnections,
		Subscriptions:    uint32(st.Subscriptions),
		HTTPReqStats:     m.requestStats(),
		ConfigLoadTime:   st.ConfigLoadTime.UTC(),
		SlowConsumerStat: &SlowConsumersStats{Clients: uint64(st.SlowConsumers)},
	}
	if st.StaleConnections > 0 {
		v.StaleConnStats = &StaleConnectionStats{Clients: uint64(st.StaleConnections)}
	}
	if m.opts.Secure {
		v.HTTPPort, v.HTTPSPort = 0, m.Port()
	}
	v.Mem, v.CPU = m.proc.sample(now)
	if js := m.opts.JetStream; js != nil {
		v.JetStream = js.Varz()
		v.JetStream.Meta = m.metaCluster()
	}
	if c := m.opts.Cluster; c != nil {
		v.Cluster = c.Varz()
		v.Routes = len(c.Routes())
	}
	return v
}

// uptime formats d as nats-server does: whole seconds, with minutes,
// hours, days and years as needed ("45s", "1h2m3s", "2d0h0m5s").
func uptime(d time.Duration) string {
	secs := int64(d / time.Second)
	mins, hrs := secs/60, secs/3600
	days := hrs / 24
	years := days / 365
	switch {
	case years > 0:
		return fmt.Sprintf("%dy%dd%dh%dm%ds", years, days%365, hrs%24, mins%60, secs%60)
	case days > 0:
		return fmt.Sprintf("%dd%dh%dm%ds", days, hrs%24, mins%60, secs%60)
	case hrs > 0:
		return fmt.Sprintf("%dh%dm%ds", hrs, mins%60, secs%60)
	case mins > 0:
		return fmt.Sprintf("%dm%ds", mins, secs%60)
	}
	return fmt.Sprintf("%ds", secs)
}
