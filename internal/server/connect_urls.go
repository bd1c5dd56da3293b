package server

import (
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cairn-db/cairn/internal/wire"
)

// Discovery is what INFO tells clients about the cluster a server is in
// (docs/CLUSTERING.md, "Client discovery"). The zero value is a server
// alone: no "cluster" and no "connect_urls" in INFO.
type Discovery struct {
	// Cluster is the cluster name, sent as INFO "cluster".
	Cluster string
	// ClientAdvertise is the client "host:port" given to clients and
	// other nodes instead of the listener's (nats-server's
	// client_advertise); a host without a port takes the listener's.
	ClientAdvertise string
	// NoAdvertise: as nats-server's no_advertise, this server sends no
	// connect_urls to its clients and its own URL is not advertised.
	NoAdvertise bool
}

// discovery holds the server's Discovery and the current connect URLs.
type discovery struct {
	mu   sync.Mutex
	conf Discovery
	// urls is every node's client "host:port", this server's included,
	// as last given to SetConnectURLs.
	urls []string
}

// SetDiscovery sets the cluster name and advertising choices announced
// in INFO. Call it before Start so that the first client sees them; a
// later call affects the INFO of clients that connect after it.
func (s *Server) SetDiscovery(d Discovery) {
	s.disc.mu.Lock()
	s.disc.conf = d
	s.disc.mu.Unlock()
}

// AdvertisedClientURL returns the client "host:port" this server gives
// to other nodes for their connect_urls: the client_advertise address,
// or the listener's host and port. It returns "" with no_advertise, or
// before Start. Safe for concurrent use.
func (s *Server) AdvertisedClientURL() string {
	s.disc.mu.Lock()
	conf := s.disc.conf
	s.disc.mu.Unlock()
	if conf.NoAdvertise || s.listener == nil {
		return ""
	}
	return s.ownClientURL(conf)
}

// ownClientURL is AdvertisedClientURL without the no_advertise check.
func (s *Server) ownClientURL(conf Discovery) string {
	port := s.Addr().Port
	if conf.ClientAdvertise != "" {
		if h, p, err := ParseClientAdvertise(conf.ClientAdvertise, port); err == nil {
			return net.JoinHostPort(h, strconv.Itoa(p))
		}
	}
	host := s.opts.Host
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = s.Addr().IP.String()
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// ParseClientAdvertise splits a client_advertise value into host and
// port as nats-server reads it: a host alone, or a port of 0 or -1,
// takes port (the listener's).
func ParseClientAdvertise(s string, port int) (string, int, error) {
	if s == "" {
		return "", -1, errors.New("no hostport specified")
	}
	host, sPort, err := net.SplitHostPort(s)
	var ae *net.AddrError
	if errors.As(err, &ae) && strings.Contains(ae.Err, "missing port") {
		host, sPort, err = net.SplitHostPort(s + ":" + strconv.Itoa(port))
	}
	if err != nil {
		return "", -1, err
	}
	p, err := strconv.Atoi(strings.TrimSpace(sPort))
	if err != nil {
		return "", -1, err
	}
	if p == 0 || p == -1 {
		p = port
	}
	return strings.TrimSpace(host), p, nil
}

// SetConnectURLs replaces the connect_urls announced in INFO: every
// node's client "host:port", this server's own included (the caller, the
// route layer, builds the set). When the set changes, clients that
// announced protocol 1 get an asynchronous INFO carrying it, as
// nats-server sends when a node joins or leaves; protocol 0 clients do
// not expect an INFO after CONNECT and get none. The server's own URL
// comes first, as in nats-server's INFO, then the others in the order
// given; duplicates and empty entries are dropped. Safe for concurrent
// use.
func (s *Server) SetConnectURLs(urls []string) {
	clean := make([]string, 0, len(urls))
	for _, u := range urls {
		if u != "" && !slices.Contains(clean, u) {
			clean = append(clean, u)
		}
	}
	s.disc.mu.Lock()
	if s.listener != nil {
		own := s.ownClientURL(s.disc.conf)
		if i := slices.Index(clean, own); i > 0 {
			clean = slices.Insert(slices.Delete(clean, i, i+1), 0, own)
		}
	}
	changed := !sameSet(s.disc.urls, clean)
	if changed {
		s.disc.urls = clean
	}
	noAdvertise := s.disc.conf.NoAdvertise
	s.disc.mu.Unlock()
	if !changed || noAdvertise {
		return
	}
	s.mu.Lock()
	clients := make([]*client, 0, len(s.mu.clients))
	for _, c := range s.mu.clients {
		clients = append(clients, c)
	}
	ldm := s.mu.ldm
	s.mu.Unlock()
	for _, c := range clients {
		c.sendAsyncInfo(ldm)
	}
}

// ConnectURLs returns a copy of the set last given to SetConnectURLs.
func (s *Server) ConnectURLs() []string {
	s.disc.mu.Lock()
	defer s.disc.mu.Unlock()
	return slices.Clone(s.disc.urls)
}

// discoveryInfo adds "cluster" and "connect_urls" to an INFO document.
// In lame duck mode the server's own URL is left out, so that clients
// do not reconnect to a server that is going away.
func (s *Server) discoveryInfo(info map[string]any, ldm bool) {
	s.disc.mu.Lock()
	conf, urls := s.disc.conf, s.disc.urls
	s.disc.mu.Unlock()
	if conf.Cluster != "" {
		info["cluster"] = conf.Cluster
	}
	if conf.ClientAdvertise != "" {
		// As nats-server: INFO host and port are the advertised ones.
		if h, p, err := ParseClientAdvertise(conf.ClientAdvertise, s.Addr().Port); err == nil {
			info["host"], info["port"] = h, p
		}
	}
	if conf.NoAdvertise || len(urls) == 0 {
		return
	}
	if ldm {
		own := s.ownClientURL(conf)
		urls = slices.DeleteFunc(slices.Clone(urls), func(u string) bool { return u == own })
	}
	if len(urls) > 0 {
		info["connect_urls"] = urls
	}
}

// sendAsyncInfo sends the current INFO to a client that announced
// protocol 1; ldm keeps "ldm": true once lame duck mode has begun.
func (c *client) sendAsyncInfo(ldm bool) {
	c.mu.Lock()
	proto, closed := c.opts.Protocol, c.mu.closed
	c.mu.Unlock()
	if closed || proto < 1 {
		return
	}
	c.queue(wire.AppendInfo(nil, c.srv.infoJSONLDM(c, ldm)))
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
