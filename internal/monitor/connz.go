package monitor

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cairn-db/cairn/internal/server"
	"github.com/cairn-db/cairn/internal/subject"
)

// Connz is the answer of /connz (nats-server's field names).
type Connz struct {
	ID       string      `json:"server_id"`
	Now      time.Time   `json:"now"`
	NumConns int         `json:"num_connections"`
	Total    int         `json:"total"`
	Offset   int         `json:"offset"`
	Limit    int         `json:"limit"`
	Conns    []*ConnInfo `json:"connections"`
}

// ConnInfo is one connection of /connz. Not reported yet:
// tls_peer_certs and tls_first, and what Cairn does not have (jwt,
// issuer_key, tags, mqtt_client, proxy). Stop and Reason are set for
// closed connections only.
type ConnInfo struct {
	Cid            uint64      `json:"cid"`
	Kind           string      `json:"kind,omitempty"`
	Type           string      `json:"type,omitempty"`
	IP             string      `json:"ip"`
	Port           int         `json:"port"`
	Start          time.Time   `json:"start"`
	LastActivity   time.Time   `json:"last_activity"`
	RTT            string      `json:"rtt,omitempty"`
	Uptime         string      `json:"uptime"`
	Idle           string      `json:"idle"`
	Pending        int         `json:"pending_bytes"`
	InMsgs         int64       `json:"in_msgs"`
	OutMsgs        int64       `json:"out_msgs"`
	InBytes        int64       `json:"in_bytes"`
	OutBytes       int64       `json:"out_bytes"`
	NumSubs        uint32      `json:"subscriptions"`
	Name           string      `json:"name,omitempty"`
	Lang           string      `json:"lang,omitempty"`
	Version        string      `json:"version,omitempty"`
	TLSVersion     string      `json:"tls_version,omitempty"`
	TLSCipher      string      `json:"tls_cipher_suite,omitempty"`
	AuthorizedUser string      `json:"authorized_user,omitempty"`
	Account        string      `json:"account,omitempty"`
	Subs           []string    `json:"subscriptions_list,omitempty"`
	SubsDetail     []SubDetail `json:"subscriptions_list_detail,omitempty"`
	Stop           *time.Time  `json:"stop,omitempty"`
	Reason         string      `json:"reason,omitempty"`

	rtt time.Duration // for sort=rtt
}

// SubDetail is one subscription (/connz with subs=detail, /subsz with
// subs=true).
type SubDetail struct {
	Account    string `json:"account,omitempty"`
	AccountTag string `json:"account_tag,omitempty"`
	Subject    string `json:"subject"`
	Queue      string `json:"qgroup,omitempty"`
	Sid        string `json:"sid"`
	Msgs       int64  `json:"msgs"`
	Max        int64  `json:"max,omitempty"`
	Cid        uint64 `json:"cid"`
}

// DefaultConnListSize is the default limit of /connz, as nats-server's.
const DefaultConnListSize = 1024

// ConnzPath is /connz's path.
const ConnzPath = "/connz"

// ConnzOptions select and shape the /connz answer; the JSON names are
// nats-server's, so a system request's body decodes into it.
type ConnzOptions struct {
	// Sort is a sort option ("" is cid); see connSorts.
	Sort string `json:"sort"`
	// Username (auth=true) adds each connection's user and account.
	Username bool `json:"auth"`
	// Subscriptions (subs=true) lists each connection's subjects;
	// SubscriptionsDetail (subs=detail) its subscriptions in detail.
	Subscriptions       bool `json:"subscriptions"`
	SubscriptionsDetail bool `json:"subscriptions_detail"`
	// Offset and Limit page the sorted list (Limit 0: 1024).
	Offset int `json:"offset"`
	Limit  int `json:"limit"`
	// CID, User and Account filter on one connection, user or account.
	CID     uint64 `json:"cid"`
	User    string `json:"user"`
	Account string `json:"acc"`
	// State is ConnOpen (the default), ConnClosed or ConnAll.
	State ConnState `json:"state"`
	// FilterSubject keeps the connections with a subscription that
	// overlaps it; it needs Account, as with nats-server.
	FilterSubject string `json:"filter_subject"`
}

// ConnState selects connections by state, with nats-server's values.
type ConnState int

// The states. The latest server.MaxClosedConns closed connections are
// kept, each with at most 1024 of its subscriptions.
const (
	ConnOpen ConnState = iota
	ConnClosed
	ConnAll
)

// handleConnz answers /connz: the open connections, sorted (sort=cid by
// default; subs, pending, msgs_to, msgs_from, bytes_to, bytes_from,
// last, idle descending; start as cid; uptime shortest first), paged
// (offset, limit: 1024 by default), with their subscriptions (subs=true
// or subs=detail), user and account (auth=true), filtered by cid, user
// or acc; state=closed lists the latest closed connections instead,
// state=all both.
func (m *Monitor) handleConnz(w http.ResponseWriter, r *http.Request) {
	m.count(ConnzPath)
	q := r.URL.Query()
	o := ConnzOptions{Sort: q.Get("sort"), User: q.Get("user"), Account: q.Get("acc")}
	var ok bool
	if o.Username, ok = queryBool(w, r, "auth"); !ok {
		return
	}
	if o.SubscriptionsDetail = strings.EqualFold(q.Get("subs"), "detail"); !o.SubscriptionsDetail {
		if o.Subscriptions, ok = queryBool(w, r, "subs"); !ok {
			return
		}
	}
	if o.Offset, ok = queryInt(w, r, "offset"); !ok {
		return
	}
	if o.Limit, ok = queryInt(w, r, "limit"); !ok {
		return
	}
	if s := q.Get("cid"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			badRequest(w, fmt.Sprintf("Error decoding uint64 for '%s': %v", "cid", err))
			return
		}
		o.CID = v
	}
	switch s := strings.ToLower(q.Get("state")); s {
	case "", "open":
		o.State = ConnOpen
	case "closed":
		o.State = ConnClosed
	case "any", "all":
		o.State = ConnAll
	default:
		badRequest(w, "Error decoding state for "+q.Get("state"))
		return
	}
	c, err := m.Connz(&o)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	m.respondJSON(w, ConnzPath, c)
}

func badRequest(w http.ResponseWriter, text string) {
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write([]byte(text))
}

// connSorts are the sort options and their orders ("less" lists first).
var connSorts = map[string]func(a, b *ConnInfo, now time.Time) bool{
	"cid":        func(a, b *ConnInfo, _ time.Time) bool { return a.Cid < b.Cid },
	"start":      func(a, b *ConnInfo, _ time.Time) bool { return a.Cid < b.Cid },
	"subs":       func(a, b *ConnInfo, _ time.Time) bool { return a.NumSubs > b.NumSubs },
	"pending":    func(a, b *ConnInfo, _ time.Time) bool { return a.Pending > b.Pending },
	"msgs_to":    func(a, b *ConnInfo, _ time.Time) bool { return a.OutMsgs > b.OutMsgs },
	"msgs_from":  func(a, b *ConnInfo, _ time.Time) bool { return a.InMsgs > b.InMsgs },
	"bytes_to":   func(a, b *ConnInfo, _ time.Time) bool { return a.OutBytes > b.OutBytes },
	"bytes_from": func(a, b *ConnInfo, _ time.Time) bool { return a.InBytes > b.InBytes },
	"last":       func(a, b *ConnInfo, _ time.Time) bool { return a.LastActivity.After(b.LastActivity) },
	"idle":       func(a, b *ConnInfo, now time.Time) bool { return now.Sub(a.LastActivity) > now.Sub(b.LastActivity) },
	// Shortest first, as nats-server (the one ascending order).
	"uptime": func(a, b *ConnInfo, now time.Time) bool { return upFor(a, now) < upFor(b, now) },
	"rtt":    func(a, b *ConnInfo, _ time.Time) bool { return a.rtt > b.rtt },
	// Closed connections only (below).
	"stop":   func(a, b *ConnInfo, _ time.Time) bool { return a.Stop.Before(*b.Stop) },
	"reason": func(a, b *ConnInfo, _ time.Time) bool { return a.Reason < b.Reason },
}

// Connz returns the /connz document for opts (nil: the defaults). An
// unknown sort option, stop or reason without ConnClosed, or a subject
// filter without an account is an error with nats-server's text.
func (m *Monitor) Connz(opts *ConnzOptions) (*Connz, error) {
	var o ConnzOptions
	if opts != nil {
		o = *opts
	}
	if o.Sort == "" {
		o.Sort = "cid"
	}
	less, ok := connSorts[o.Sort]
	if !ok {
		return nil, fmt.Errorf("invalid sorting option: %s", o.Sort)
	}
	if (o.Sort == "stop" || o.Sort == "reason") && o.State != ConnClosed {
		return nil, fmt.Errorf("sort by %s only valid on closed connections", o.Sort)
	}
	filter := ""
	if o.FilterSubject != "" && o.FilterSubject != ">" {
		if o.Account == "" {
			return nil, errors.New("filter by subject only valid with account filtering")
		}
		filter = o.FilterSubject
	}
	o.Offset = max(o.Offset, 0)
	if o.Limit <= 0 {
		o.Limit = DefaultConnListSize
	}
	if o.CID > 0 {
		o.Limit = 1
	}
	now := time.Now()
	c := &Connz{ID: m.opts.Core.ID(), Now: now.UTC(), Offset: o.Offset, Limit: o.Limit, Conns: []*ConnInfo{}}
	keep := func(s *server.ConnInfo) bool {
		if (o.CID > 0 && s.CID != o.CID) || (o.User != "" && s.User != o.User) || (o.Account != "" && s.Account != o.Account) {
			return false
		}
		return filter == "" || slices.ContainsFunc(s.Subs, func(sub server.SubInfo) bool { return subject.Overlap(filter, sub.Subject) })
	}
	list := []*ConnInfo{} // "connections": [] when there are none
	if o.State != ConnClosed {
		for _, s := range m.opts.Core.Conns(o.Subscriptions || o.SubscriptionsDetail || filter != "") {
			if keep(&s) {
				list = append(list, connInfo(&s, &o, now))
			}
		}
	}
	if o.State != ConnOpen {
		for _, s := range m.opts.Core.ClosedConns() {
			if keep(&s.ConnInfo) {
				list = append(list, closedConnInfo(&s, &o))
			}
		}
	}
	// By cid first, so that ties keep a stable order between requests.
	sort.Slice(list, func(i, j int) bool { return list[i].Cid < list[j].Cid })
	sort.SliceStable(list, func(i, j int) bool { return less(list[i], list[j], now) })
	c.Total = len(list)
	c.Conns = page(list, o.Offset, o.Limit)
	c.NumConns = len(c.Conns)
	return c, nil
}

// page returns the items from offset, at most limit of them. limit may
// be as large as an int goes: it is compared with what is left rather
// than added (offset+limit would wrap).
func page[T any](list []T, offset, limit int) []T {
	offset = min(max(offset, 0), len(list))
	return list[offset : offset+min(max(limit, 0), len(list)-offset)]
}

func connInfo(s *server.ConnInfo, o *ConnzOptions, now time.Time) *ConnInfo {
	ci := &ConnInfo{
		Cid: s.CID, Kind: "Client", Type: "nats", IP: s.IP, Port: s.Port,
		Start: s.Start.UTC(), LastActivity: s.LastActivity.UTC(),
		Uptime: uptime(now.Sub(s.Start)), Idle: uptime(now.Sub(s.LastActivity)),
		RTT: rttString(s.RTT), rtt: s.RTT,
		Pending: s.Pending, InMsgs: s.InMsgs, OutMsgs: s.OutMsgs, InBytes: s.InBytes, OutBytes: s.OutBytes,
		NumSubs: uint32(s.NumSubs), Name: s.Name, Lang: s.Lang, Version: s.Version,
	}
	if s.TLSVersion != 0 {
		ci.TLSVersion = tlsVersion(s.TLSVersion)
		ci.TLSCipher = tls.CipherSuiteName(s.TLSCipherSuite)
	}
	if o.Username {
		ci.AuthorizedUser = s.User
		if s.Account != server.GlobalAccount {
			ci.Account = s.Account
		}
	}
	if !o.Subscriptions && !o.SubscriptionsDetail {
		return ci
	}
	for _, sub := range s.Subs {
		if o.SubscriptionsDetail {
			// No account: nats-server names it in /subsz's details only.
			ci.SubsDetail = append(ci.SubsDetail, SubDetail{Subject: sub.Subject, Queue: sub.Queue, Sid: sub.SID, Msgs: sub.Delivered, Max: sub.Max, Cid: s.CID})
		} else {
			ci.Subs = append(ci.Subs, sub.Subject)
		}
	}
	return ci
}

// closedConnInfo is connInfo for a closed connection: its times are
// as of its stop, and its subscriptions' details name their account, as
// nats-server's do.
func closedConnInfo(s *server.ClosedConnInfo, o *ConnzOptions) *ConnInfo {
	ci := connInfo(&s.ConnInfo, o, s.Stop)
	stop := s.Stop.UTC()
	ci.Stop, ci.Reason = &stop, s.Reason
	if s.Account != server.GlobalAccount {
		for i := range ci.SubsDetail {
			ci.SubsDetail[i].Account = s.Account
		}
	}
	return ci
}

// rttString formats a round trip time as nats-server does: "0s" when
// not measured yet, microseconds below a millisecond.
func rttString(d time.Duration) string {
	if d > time.Microsecond && d < time.Millisecond {
		d = d.Truncate(time.Microsecond)
	}
	return d.String()
}

// upFor is how long a connection has been up: until now, or until its
// stop when closed.
func upFor(ci *ConnInfo, now time.Time) time.Duration {
	if ci.Stop != nil {
		return ci.Stop.Sub(ci.Start)
	}
	return now.Sub(ci.Start)
}

// tlsVersion names a TLS version as nats-server does ("1.3").
func tlsVersion(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "1.0"
	case tls.VersionTLS11:
		return "1.1"
	case tls.VersionTLS12:
		return "1.2"
	case tls.VersionTLS13:
		return "1.3"
	}
	return fmt.Sprintf("Unknown [0x%x]", v)
}
