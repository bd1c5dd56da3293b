package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairn-db/cairn/internal/server"
)

// Options configure a node's routes. Zero durations take the defaults.
type Options struct {
	Name       string // the cluster name; peers with another are refused
	ServerName string // unique in the cluster; "" takes the server's name, else its id
	Host       string // the cluster listener's host ("" = all interfaces)
	Port       int    // the cluster listener's port (0 = any free port)
	Routes     []*url.URL
	// User and Password are the route credentials: sent to every peer
	// and required from every peer ("" for none).
	// A route URL's own user and password (nats://user:pass@host:port)
	// are sent to that route instead.
	User, Password string
	// Advertise is the "host:port" peers are told to dial for this
	// node; "" takes the listener's (its port alone when it listens on
	// all interfaces: peers then use the address its routes come from).
	Advertise   string
	AuthTimeout time.Duration // the handshake's deadline (default 2 s)
	TLS         *tls.Config   // TLS for accepted and dialed routes; nil for none
	// ClientURL is the "host:port" this node advertises to clients;
	// "" takes the server's listener address.
	ClientURL string
	// NoAdvertise keeps this node's client URL from its peers (they
	// learn an empty one and leave it out of their clients'
	// connect_urls), as nats-server's no_advertise does.
	NoAdvertise bool
	// OnPeersChanged is called, on its own goroutine with no lock held,
	// after a peer joined or left.
	OnPeersChanged func()
	// OnRaft receives each Raft frame a peer sent with SendRaft: from is
	// the peer's server name. It is called on the route's reader
	// goroutine, so it must hand the frame over without waiting; data
	// is only valid during the call (copy to keep).
	OnRaft func(from string, data []byte)

	PingInterval time.Duration // between PINGs on a route (default 2 s)
	MaxPingsOut  int           // unanswered PINGs before a route is cut (default 3)
	MaxPending   int           // a route's outbound buffer limit in bytes (default 64 MiB)
	// MaxInProcessMsgs and MaxInProcessBytes bound a route's queue of
	// deliveries to in-process handlers (worker.go; defaults 65536
	// messages, 64 MiB); a peer that keeps it full for a ping interval
	// is cut as a slow route.
	MaxInProcessMsgs  int
	MaxInProcessBytes int
}

var _ server.ClusterHook = (*Cluster)(nil)

// PeerInfo describes one connected peer.
type PeerInfo struct {
	Name      string // server name
	ID        string // server id
	ClientURL string // the "host:port" it advertises to clients
	RouteURL  string // its cluster listener, "host:port"
}

// Cluster is one node's side of the route mesh. Its methods are safe
// for concurrent use.
type Cluster struct {
	srv      *server.Server
	opts     Options
	log      *server.Logger
	name, id string
	ln       net.Listener
	self     string // our own cluster listener, "host:port"
	// creds are the credentials given in configured route URLs, by
	// address; read-only after Start.
	creds map[string]*url.Userinfo

	interest localInterest // interest.go

	// routes is the ready routes, copied on write, read by Forward
	// without a lock.
	routes atomic.Pointer[[]*route]

	mu struct {
		sync.Mutex
		byID    map[string]*route // ready routes by peer id
		dialing map[string]bool   // route URLs with a dialer running
		// ledTo is the peer id each dialed address last led to (our
		// own id for an address that is our listener), for
		// SeedsConnected.
		ledTo  map[string]string
		conns  map[net.Conn]bool // every route connection, ready or not
		closed bool
	}
	quit chan struct{}
	// ctx is cancelled by Close, ending dials in progress.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start listens for routes, dials opts.Routes and installs the cluster
// in srv, which must have been started. Close undoes it.
func Start(srv *server.Server, opts Options) (*Cluster, error) {
	if opts.AuthTimeout <= 0 {
		opts.AuthTimeout = 2 * time.Second
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = 2 * time.Second
	}
	if opts.MaxPingsOut <= 0 {
		opts.MaxPingsOut = 3
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = 64 << 20
	}
	if opts.MaxInProcessMsgs <= 0 {
		opts.MaxInProcessMsgs = 1 << 16
	}
	if opts.MaxInProcessBytes <= 0 {
		opts.MaxInProcessBytes = 64 << 20
	}
	if opts.Name == "" {
		return nil, errors.New("cluster: a cluster name is required")
	}
	c := &Cluster{srv: srv, opts: opts, log: srv.Logger(), id: srv.ID(), name: opts.ServerName, quit: make(chan struct{})}
	if c.name == "" {
		c.name = srv.Name()
	}
	if c.name == "" {
		c.name = c.id
	}
	if c.opts.ClientURL == "" {
		c.opts.ClientURL = srv.Addr().String()
	}
	if c.opts.NoAdvertise {
		c.opts.ClientURL = ""
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(opts.Host, strconv.Itoa(opts.Port)))
	if err != nil {
		return nil, fmt.Errorf("cluster: listen: %w", err)
	}
	c.ln = ln
	c.self = advertised(opts.Host, ln.Addr().(*net.TCPAddr).Port)
	if opts.Advertise != "" {
		c.self = opts.Advertise
	}
	c.creds = make(map[string]*url.Userinfo)
	for _, u := range opts.Routes {
		if u.User != nil {
			c.creds[u.Host] = u.User
		}
	}
	c.interest.init()
	c.mu.byID = make(map[string]*route)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.mu.dialing = make(map[string]bool)
	c.mu.ledTo = make(map[string]string)
	c.mu.conns = make(map[net.Conn]bool)
	c.routes.Store(&[]*route{})
	srv.SetClusterHook(c)
	c.log.Noticef("Cluster %q listening for routes on %s", opts.Name, ln.Addr())
	c.wg.Add(1)
	go c.acceptLoop()
	for _, u := range opts.Routes {
		c.dial(u.Host, true)
	}
	return c, nil
}

// advertised is the address peers are told to dial: ":port" when
// listening on all interfaces (a peer then uses the address the route
// comes from).
func advertised(host string, port int) string {
	if host == "0.0.0.0" || host == "::" {
		host = ""
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// Addr is the cluster listener's address.
func (c *Cluster) Addr() net.Addr { return c.ln.Addr() }

// Peers returns the connected peers, in no particular order.
func (c *Cluster) Peers() []PeerInfo {
	rs := *c.routes.Load()
	out := make([]PeerInfo, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.peer)
	}
	return out
}

// SeedsConnected reports whether a route is up to every configured
// route (Options.Routes): to the peer the address led to, whichever
// node's connection between the two was kept. An address that is this
// node's own listener counts as connected once a dial found it so.
func (c *Cluster) SeedsConnected() bool {
	c.mu.Lock()
	ledTo := make(map[string]string, len(c.opts.Routes))
	for _, u := range c.opts.Routes {
		if id, ok := c.mu.ledTo[u.Host]; ok {
			ledTo[u.Host] = id
		}
	}
	c.mu.Unlock()
	for _, u := range c.opts.Routes {
		addr := u.Host
		id, ok := ledTo[addr]
		switch {
		case addr == c.self || (ok && id == c.id):
		case c.connectedTo(addr):
		case ok && c.connectedToID(id):
		default:
			return false
		}
	}
	return true
}

// Close stops accepting and dialing, closes every route, removes the
// cluster from the server and waits for the cluster's goroutines.
func (c *Cluster) Close() {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return
	}
	c.mu.closed = true
	close(c.quit)
	c.cancel()
	rs := make([]*route, 0, len(c.mu.byID))
	for _, r := range c.mu.byID {
		rs = append(rs, r)
	}
	for conn := range c.mu.conns {
		closeNow(conn) // routes still in their handshake
	}
	c.mu.Unlock()
	c.srv.SetClusterHook(nil)
	_ = c.ln.Close()
	for _, r := range rs {
		r.close(endClosed)
	}
	c.wg.Wait()
}

func (c *Cluster) closed() bool {
	select {
	case <-c.quit:
		return true
	default:
		return false
	}
}

func (c *Cluster) acceptLoop() {
	defer c.wg.Done()
	for {
		conn, err := c.ln.Accept()
		if err != nil {
			return
		}
		if c.opts.TLS != nil {
			conn = tls.Server(conn, c.opts.TLS)
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.runRoute(conn, false, "")
		}()
	}
}

// dial starts a dialer for addr unless one runs. A configured route is
// retried until Close; a learned one gives up after maxImplicitTries
// failed attempts in a row.
func (c *Cluster) dial(addr string, configured bool) {
	c.mu.Lock()
	if c.mu.closed || c.mu.dialing[addr] || addr == c.self {
		c.mu.Unlock()
		return
	}
	c.mu.dialing[addr] = true
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer func() {
			c.mu.Lock()
			delete(c.mu.dialing, addr)
			c.mu.Unlock()
		}()
		c.dialLoop(addr, configured)
	}()
}

const maxImplicitTries = 10

func (c *Cluster) dialLoop(addr string, configured bool) {
	var b backoff
	peerID := "" // the peer this address led to last
	for fails := 0; configured || fails < maxImplicitTries; {
		if c.closed() {
			return
		}
		// A learned route ends when another route leads to its peer;
		// a configured one waits for that route to end, so that it
		// redials when the other side does not.
		if c.connectedTo(addr) || (peerID != "" && c.connectedToID(peerID)) {
			if !configured {
				return
			}
			select {
			case <-c.quit:
				return
			case <-time.After(backoffMax):
			}
			continue
		}
		ctx, cancel := context.WithTimeout(c.ctx, c.opts.AuthTimeout)
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		cancel()
		if err == nil {
			if c.opts.TLS != nil {
				conn = tls.Client(conn, c.clientTLS(addr))
			}
			end, id := c.runRoute(conn, true, addr)
			if id != "" {
				peerID = id
			}
			switch end {
			case endSelf:
				c.mu.Lock()
				c.mu.ledTo[addr] = c.id
				c.mu.Unlock()
				return
			case endClosed:
				return
			case endDuplicate:
				continue
			case endRan:
				b.reset()
				fails = 0
			}
		} else {
			c.log.Debugf("Route to %s: %v", addr, err)
		}
		fails++
		select {
		case <-c.quit:
			return
		case <-time.After(b.next()):
		}
	}
	c.log.Noticef("Giving up on learned route %s after %d attempts", addr, maxImplicitTries)
}

// connectedTo reports whether a ready route leads to the peer whose
// cluster listener is addr.
func (c *Cluster) connectedTo(addr string) bool {
	for _, r := range *c.routes.Load() {
		if r.peer.RouteURL == addr {
			return true
		}
	}
	return false
}

// clientTLS is the TLS configuration for dialing addr: the cluster's,
// verifying the peer's certificate for addr's host unless it names a
// server itself.
func (c *Cluster) clientTLS(addr string) *tls.Config {
	conf := c.opts.TLS
	if conf.ServerName != "" || conf.InsecureSkipVerify {
		return conf
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return conf
	}
	conf = conf.Clone()
	conf.ServerName = host
	return conf
}

// connectedToID reports whether a ready route leads to the peer id.
func (c *Cluster) connectedToID(id string) bool {
	for _, r := range *c.routes.Load() {
		if r.peer.ID == id {
			return true
		}
	}
	return false
}

// knownRouteURLs lists the cluster listeners of the ready peers.
func (c *Cluster) knownRouteURLs() []string {
	rs := *c.routes.Load()
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.peer.RouteURL)
	}
	return out
}

// peersChanged calls OnPeersChanged on a goroutine of its own.
func (c *Cluster) peersChanged() {
	if f := c.opts.OnPeersChanged; f != nil {
		go f()
	}
}

// publishRoutesLocked copies the ready routes for lock-free readers.
func (c *Cluster) publishRoutesLocked() {
	rs := make([]*route, 0, len(c.mu.byID))
	for _, r := range c.mu.byID {
		rs = append(rs, r)
	}
	c.routes.Store(&rs)
}
