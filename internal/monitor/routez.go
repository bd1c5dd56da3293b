package monitor

import (
	"net/http"
	"sort"
	"time"
)

// RoutezPath is /routez's path.
const RoutezPath = "/routez"

// Routez is the answer of /routez (nats-server's field names): the
// server and its connected routes. A server alone answers with no
// routes, as nats-server. Import and export permissions are never set:
// routes have none.
type Routez struct {
	ID        string       `json:"server_id"`
	Name      string       `json:"server_name"`
	Now       time.Time    `json:"now"`
	NumRoutes int          `json:"num_routes"`
	Routes    []*RouteInfo `json:"routes"`
}

// RouteInfo is one route of /routez. Rid numbers the connection in the
// process; did_solicit is set when this node dialed it, is_configured
// when it dialed a configured route. rtt is the last PING's round trip
// (left out before one), uptime and idle are formatted as /varz's
// uptime. in_msgs and in_bytes count the messages received (routed
// messages, forwarded requests, Raft frames) and their header and
// payload bytes; out_msgs and out_bytes count the writes to the socket
// and every byte written, protocol included (the route layer sends
// many messages per write). subscriptions is the number of the peer's
// interests; subscriptions_list is never filled.
type RouteInfo struct {
	Rid          uint64    `json:"rid"`
	RemoteID     string    `json:"remote_id"`
	RemoteName   string    `json:"remote_name"`
	DidSolicit   bool      `json:"did_solicit"`
	IsConfigured bool      `json:"is_configured"`
	IP           string    `json:"ip"`
	Port         int       `json:"port"`
	Start        time.Time `json:"start"`
	LastActivity time.Time `json:"last_activity"`
	RTT          string    `json:"rtt,omitempty"`
	Uptime       string    `json:"uptime"`
	Idle         string    `json:"idle"`
	Pending      int       `json:"pending_size"`
	InMsgs       int64     `json:"in_msgs"`
	OutMsgs      int64     `json:"out_msgs"`
	InBytes      int64     `json:"in_bytes"`
	OutBytes     int64     `json:"out_bytes"`
	NumSubs      uint32    `json:"subscriptions"`
}

// RoutezOptions are /routez's options, nats-server's: the subscription
// lists they ask for are not reported (accepted, without effect).
type RoutezOptions struct {
	Subscriptions       bool `json:"subscriptions"`
	SubscriptionsDetail bool `json:"subscriptions_detail"`
}

// RoutezEventOptions are the options of ROUTEZ: /routez's and the
// filters.
type RoutezEventOptions struct {
	RoutezOptions
	EventFilterOptions
}

// handleRoutez answers /routez; its subs parameter is accepted and
// changes nothing.
func (m *Monitor) handleRoutez(w http.ResponseWriter, _ *http.Request) {
	m.count(RoutezPath)
	m.respondJSON(w, RoutezPath, m.Routez(nil))
}

// Routez returns the /routez document now, routes by rid. opts (nil:
// the defaults) change nothing yet.
func (m *Monitor) Routez(*RoutezOptions) *Routez {
	now := time.Now().UTC()
	rz := &Routez{ID: m.opts.Core.ID(), Name: m.opts.Core.Name(), Now: now, Routes: []*RouteInfo{}}
	for _, r := range m.routes() {
		ri := r
		ri.Start, ri.LastActivity = r.Start.UTC(), r.LastActivity.UTC()
		ri.Uptime = uptime(now.Sub(r.Start))
		ri.Idle = uptime(max(now.Sub(r.LastActivity), 0))
		rz.Routes = append(rz.Routes, &ri)
	}
	sort.Slice(rz.Routes, func(i, j int) bool { return rz.Routes[i].Rid < rz.Routes[j].Rid })
	rz.NumRoutes = len(rz.Routes)
	return rz
}
