package monitor

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cairn-db/cairn/internal/server"
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

// ConnInfo is one connection of /connz. Not reported yet: rtt,
// tls_peer_certs and tls_first, and what Cairn does not have (jwt, issuer_key, tags, mqtt_client,
// proxy; stop and reason: closed connections are not kept).
type ConnInfo struct {
	Cid            uint64      `json:"cid"`
	Kind           string      `json:"kind,omitempty"`
	Type           string      `json:"type,omitempty"`
	IP             string      `json:"ip"`
	Port           int         `json:"port"`
	Start          time.Time   `json:"start"`
	LastActivity   time.Time   `json:"last_activity"`
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
}

// SubDetail is one subscription with subs=detail.
type SubDetail struct {
	Account string `json:"account,omitempty"`
	Subject string `json:"subject"`
	Queue   string `json:"qgroup,omitempty"`
	Sid     string `json:"sid"`
	Msgs    int64  `json:"msgs"`
	Max     int64  `json:"max,omitempty"`
	Cid     uint64 `json:"cid"`
}

// DefaultConnListSize is the default limit of /connz, as nats-server's.
const DefaultConnListSize = 1024

// ConnzPath is /connz's path.
const ConnzPath = "/connz"

// connzOptions are /connz's query parameters.
type connzOptions struct {
	sort          string
	auth          bool
	subs, detail  bool
	offset, limit int
	cid           uint64
	state         string // open, closed, all
	user, account string
}

// handleConnz answers /connz: the open connections, sorted (sort=cid by
// default; subs, pending, msgs_to, msgs_from, bytes_to, bytes_from,
// last, idle descending; start as cid; uptime longest first), paged
// (offset, limit: 1024 by default), with their subscriptions (subs=true
// or subs=detail), user and account (auth=true), filtered by cid, user
// or acc. Closed connections are not kept: state=closed lists none,
// state=all the open ones.
func (m *Monitor) handleConnz(w http.ResponseWriter, r *http.Request) {
	m.count(ConnzPath)
	q := r.URL.Query()
	o := connzOptions{sort: q.Get("sort"), user: q.Get("user"), account: q.Get("acc")}
	var ok bool
	if o.auth, ok = queryBool(w, r, "auth"); !ok {
		return
	}
	if o.detail = strings.EqualFold(q.Get("subs"), "detail"); !o.detail {
		if o.subs, ok = queryBool(w, r, "subs"); !ok {
			return
		}
	}
	for _, p := range []struct {
		name string
		dst  *int
	}{{"offset", &o.offset}, {"limit", &o.limit}} {
		if s := q.Get(p.name); s != "" {
			v, err := strconv.Atoi(s)
			if err != nil {
				badRequest(w, fmt.Sprintf("Error decoding int for '%s': %v", p.name, err))
				return
			}
			*p.dst = v
		}
	}
	if s := q.Get("cid"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			badRequest(w, fmt.Sprintf("Error decoding uint64 for '%s': %v", "cid", err))
			return
		}
		o.cid = v
	}
	switch s := strings.ToLower(q.Get("state")); s {
	case "", "open":
		o.state = "open"
	case "closed":
		o.state = "closed"
	case "any", "all":
		o.state = "all"
	default:
		badRequest(w, "Error decoding state for "+q.Get("state"))
		return
	}
	c, err := m.Connz(o)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		m.opts.Logger.Errorf("Error marshaling response to /connz request: %v", err)
	}
	respond(w, http.StatusOK, b)
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
	"uptime":     func(a, b *ConnInfo, now time.Time) bool { return now.Sub(a.Start) > now.Sub(b.Start) },
	// Accepted as nats-server's; no round trip time is measured yet.
	"rtt": func(a, b *ConnInfo, _ time.Time) bool { return a.Cid < b.Cid },
	// Closed connections only (below).
	"stop":   func(a, b *ConnInfo, _ time.Time) bool { return a.Cid < b.Cid },
	"reason": func(a, b *ConnInfo, _ time.Time) bool { return a.Cid < b.Cid },
}

// Connz returns the /connz document for o.
func (m *Monitor) Connz(o connzOptions) (*Connz, error) {
	if o.sort == "" {
		o.sort = "cid"
	}
	less, ok := connSorts[o.sort]
	if !ok {
		return nil, fmt.Errorf("invalid sorting option: %s", o.sort)
	}
	if (o.sort == "stop" || o.sort == "reason") && o.state != "closed" {
		return nil, fmt.Errorf("sort by %s only valid on closed connections", o.sort)
	}
	o.offset = max(o.offset, 0)
	if o.limit <= 0 {
		o.limit = DefaultConnListSize
	}
	if o.cid > 0 {
		o.limit = 1
	}
	now := time.Now()
	c := &Connz{ID: m.opts.Core.ID(), Now: now.UTC(), Offset: o.offset, Limit: o.limit, Conns: []*ConnInfo{}}
	if o.state == "closed" {
		return c, nil
	}
	var list []*ConnInfo
	for _, s := range m.opts.Core.Conns(o.subs || o.detail) {
		if (o.cid > 0 && s.CID != o.cid) || (o.user != "" && s.User != o.user) || (o.account != "" && s.Account != o.account) {
			continue
		}
		list = append(list, connInfo(&s, o, now))
	}
	sort.SliceStable(list, func(i, j int) bool { return less(list[i], list[j], now) })
	c.Total = len(list)
	if o.offset < len(list) {
		// o.limit may be as large as an int goes: compare with what is
		// left rather than add (offset+limit would wrap).
		c.Conns = list[o.offset : o.offset+min(o.limit, len(list)-o.offset)]
	}
	c.NumConns = len(c.Conns)
	return c, nil
}

func connInfo(s *server.ConnInfo, o connzOptions, now time.Time) *ConnInfo {
	ci := &ConnInfo{
		Cid: s.CID, Kind: "Client", Type: "nats", IP: s.IP, Port: s.Port,
		Start: s.Start.UTC(), LastActivity: s.LastActivity.UTC(),
		Uptime: uptime(now.Sub(s.Start)), Idle: uptime(now.Sub(s.LastActivity)),
		Pending: s.Pending, InMsgs: s.InMsgs, OutMsgs: s.OutMsgs, InBytes: s.InBytes, OutBytes: s.OutBytes,
		NumSubs: uint32(s.NumSubs), Name: s.Name, Lang: s.Lang, Version: s.Version,
	}
	if s.TLSVersion != 0 {
		ci.TLSVersion = tlsVersion(s.TLSVersion)
		ci.TLSCipher = tls.CipherSuiteName(s.TLSCipherSuite)
	}
	if o.auth {
		ci.AuthorizedUser = s.User
		if s.Account != server.GlobalAccount {
			ci.Account = s.Account
		}
	}
	account := s.Account
	if account == server.GlobalAccount {
		account = "" // left out, as by nats-server
	}
	for _, sub := range s.Subs {
		if o.detail {
			ci.SubsDetail = append(ci.SubsDetail, SubDetail{Account: account, Subject: sub.Subject, Queue: sub.Queue, Sid: sub.SID, Msgs: sub.Delivered, Max: sub.Max, Cid: s.CID})
		} else {
			ci.Subs = append(ci.Subs, sub.Subject)
		}
	}
	return ci
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
