package cluster

import (
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairn-db/cairn/internal/server"
	"github.com/cairn-db/cairn/internal/subject"
)

// endReason tells a dialer why its route ended.
type endReason int

const (
	endFailed    endReason = iota // the handshake failed or was refused
	endRan                        // the route was up, then dropped
	endDuplicate                  // another route to the same peer won
	endSelf                       // the address is our own listener
	endClosed                     // the cluster is closing
)

// info is the handshake (and, later, the gossip of known peers).
type info struct {
	Cluster   string   `json:"cluster"`
	Name      string   `json:"server_name"`
	ID        string   `json:"server_id"`
	ClientURL string   `json:"client_url"`
	RouteURL  string   `json:"route_url"`
	Peers     []string `json:"peers,omitempty"`
	User      string   `json:"user,omitempty"`
	Pass      string   `json:"pass,omitempty"`
}

// rsub is one remote interest: a subject and queue group of a peer.
type rsub struct{ subject, queue string }

// route is one connection to a peer.
type route struct {
	c      *Cluster
	conn   net.Conn
	dialed bool
	addr   string   // the address dialed; "" for an accepted route
	peer   PeerInfo // set by the handshake, then read-only

	mu struct {
		sync.Mutex
		out      outQueue
		inFlight int // bytes the writer is writing now
		closed   bool
		reason   endReason
		pingsOut int
		// drained, when not nil, is closed (and cleared) by the
		// writer after each write, for waitDrained.
		drained chan struct{}
	}
	wake chan struct{}
	done chan struct{}
	// over: more than stallBytes of output wait (set by kickLocked,
	// cleared by the writer): publishing clients stall (Stall).
	over atomic.Bool

	lastAccount string           // used by the reader only (handle)
	handlers    []server.Handler // the reader's scratch list (handle)
	// flush holds the clients the reader delivered to during a read;
	// it flushes them once the read is processed (reader only).
	flush *server.RouteFlush

	work workQueue // in-process deliveries, run by workLoop (worker.go)

	counters routeCounters // for monitoring (stats.go)

	// interest is the peer's interest by account.
	interest struct {
		sync.RWMutex
		byAccount map[string]*subject.Index[rsub]
	}
}

// runRoute runs one route connection to its end on the calling
// goroutine: handshake, registration, then reading. It returns why it
// ended and the peer's id ("" if the handshake did not get that far).
func (c *Cluster) runRoute(conn net.Conn, dialed bool, addr string) (endReason, string) {
	r := &route{c: c, conn: conn, dialed: dialed, addr: addr, wake: make(chan struct{}, 1), done: make(chan struct{}), flush: server.NewRouteFlush()}
	r.work.wake, r.work.space = make(chan struct{}, 1), make(chan struct{}, 1)
	r.interest.byAccount = make(map[string]*subject.Index[rsub])
	r.mu.reason = endFailed
	r.counters.init(time.Now())
	if !c.track(conn) {
		return endClosed, ""
	}
	defer c.untrack(conn)
	_ = conn.SetDeadline(time.Now().Add(c.opts.AuthTimeout))
	// The dialer speaks first, with the route credentials; the
	// acceptor answers only a peer it accepts, and never sends them.
	if dialed {
		if err := c.writeInfo(r, true); err != nil {
			c.log.Warnf("Route to %s: handshake: %v", conn.RemoteAddr(), err)
			return endFailed, ""
		}
	}
	var p parser
	buf := make([]byte, 32<<10)
	ready := false
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			r.counters.read()
			perr := p.feed(buf[:n], func(o *op) error {
				if !ready {
					if o.kind == opErr {
						c.log.Errorf("Route %s refused us: %s", conn.RemoteAddr(), o.arg)
						return errRefused
					}
					if o.kind != opInfo {
						return fmt.Errorf("%w: expected INFO first", ErrProtocol)
					}
					if err := c.handshake(r, o.arg); err != nil {
						return err
					}
					ready = true
					_ = conn.SetReadDeadline(time.Time{})
					c.wg.Add(2)
					go r.writeLoop()
					go r.workLoop()
					return nil
				}
				return r.handle(o)
			})
			// Even after an error: what was delivered goes out.
			r.flush.Flush()
			if perr != nil {
				if !errors.Is(perr, errRefused) && !errors.Is(perr, errSelf) {
					c.log.Warnf("Route %s: %v", conn.RemoteAddr(), perr)
				}
				if !ready && errors.Is(perr, errSelf) {
					return endSelf, ""
				}
				break
			}
		}
		if err != nil {
			if !ready && !errors.Is(err, io.EOF) && !c.closed() {
				c.log.Warnf("Route %s: handshake: %v", conn.RemoteAddr(), err)
			}
			break
		}
	}
	if !ready {
		r.mu.Lock()
		reason := r.mu.reason
		r.mu.Unlock()
		return reason, r.peer.ID
	}
	r.close(endRan)
	c.unregister(r)
	r.mu.Lock()
	reason := r.mu.reason
	r.mu.Unlock()
	if c.closed() {
		return endClosed, r.peer.ID
	}
	return reason, r.peer.ID
}

var (
	errRefused = errors.New("cluster: route refused")
	errSelf    = errors.New("cluster: route to self")
)

// track records a route connection so that Close can close it; it
// reports false (and closes conn) once the cluster is closing.
func (c *Cluster) track(conn net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		_ = conn.Close()
		return false
	}
	c.mu.conns[conn] = true
	return true
}

// untrack closes conn and forgets it.
func (c *Cluster) untrack(conn net.Conn) {
	_ = conn.Close()
	c.mu.Lock()
	delete(c.mu.conns, conn)
	c.mu.Unlock()
}

// writeInfo writes the handshake's INFO, with the credentials when
// creds is set (the dialer's).
func (c *Cluster) writeInfo(r *route, creds bool) error {
	in := info{Cluster: c.opts.Name, Name: c.name, ID: c.id, ClientURL: c.opts.ClientURL, RouteURL: c.self, Peers: c.knownRouteURLs()}
	if creds {
		in.User, in.Pass = c.opts.User, c.opts.Password
		if u := c.creds[r.addr]; u != nil {
			in.User, in.Pass = u.Username(), ""
			if p, ok := u.Password(); ok {
				in.Pass = p
			}
		}
	}
	js, _ := json.Marshal(in)
	_, err := r.conn.Write(append(append([]byte("INFO "), js...), "\r\n"...))
	return err
}

// refuse logs why a peer is refused and tells it.
func (c *Cluster) refuse(r *route, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	c.log.Errorf("Refusing route %s: %s", r.conn.RemoteAddr(), msg)
	_, _ = r.conn.Write([]byte("ERR " + msg + "\r\n"))
	return errRefused
}

// handshake checks the peer's INFO and registers the route.
func (c *Cluster) handshake(r *route, js []byte) error {
	var in info
	if err := json.Unmarshal(js, &in); err != nil {
		return fmt.Errorf("%w: bad INFO: %v", ErrProtocol, err)
	}
	if in.ID == c.id {
		return errSelf
	}
	if !r.dialed && (subtle.ConstantTimeCompare([]byte(in.User), []byte(c.opts.User)) != 1 ||
		subtle.ConstantTimeCompare([]byte(in.Pass), []byte(c.opts.Password)) != 1) {
		return c.refuse(r, "authorization violation (wrong route user or password)")
	}
	if in.Cluster != c.opts.Name {
		return c.refuse(r, "cluster name %q is not ours (%q)", in.Cluster, c.opts.Name)
	}
	if in.Name == c.name {
		return c.refuse(r, "duplicate server name %q (server id %s)", in.Name, in.ID)
	}
	if !r.dialed {
		if err := c.writeInfo(r, false); err != nil {
			return err
		}
	}
	// A peer listening on all interfaces advertises only its port: it
	// is reached at the address its route comes from.
	if host, port, err := net.SplitHostPort(in.RouteURL); err == nil && host == "" {
		if ra, ok := r.conn.RemoteAddr().(*net.TCPAddr); ok {
			in.RouteURL = net.JoinHostPort(ra.IP.String(), port)
		}
	}
	r.peer = PeerInfo{Name: in.Name, ID: in.ID, ClientURL: in.ClientURL, RouteURL: in.RouteURL}
	if r.dialed {
		c.mu.Lock()
		c.mu.ledTo[r.addr] = r.peer.ID
		c.mu.Unlock()
	}
	if err := c.register(r); err != nil {
		var dup *dupNameError
		if errors.As(err, &dup) {
			return c.refuse(r, "duplicate server name %q (server ids %s and %s)", dup.name, dup.ids[0], dup.ids[1])
		}
		return err
	}
	c.learn(in.Peers)
	return nil
}

// dupNameError is register's refusal of a second peer with a name.
type dupNameError struct {
	name string
	ids  [2]string
}

func (e *dupNameError) Error() string { return "cluster: duplicate server name " + e.name }

// learn dials the peers we are not connected to.
func (c *Cluster) learn(peers []string) {
	for _, addr := range peers {
		if addr != c.self && !c.connectedTo(addr) {
			c.dial(addr, false)
		}
	}
}

// register makes r a ready route, or refuses it as a duplicate. Of two
// routes between the same nodes, both keep the one dialed by the node
// with the smaller server id.
func (c *Cluster) register(r *route) error {
	c.interest.mu.Lock()
	defer c.interest.mu.Unlock()
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return errRefused
	}
	for id, other := range c.mu.byID {
		if id != r.peer.ID && other.peer.Name == r.peer.Name {
			c.mu.Unlock()
			// Refused by the caller, which writes to the peer with no
			// lock held.
			return &dupNameError{name: r.peer.Name, ids: [2]string{id, r.peer.ID}}
		}
	}
	var loser *route
	if old := c.mu.byID[r.peer.ID]; old != nil {
		keepDialedByMe := c.id < r.peer.ID
		if r.dialed != keepDialedByMe || old.dialed == keepDialedByMe {
			c.mu.Unlock()
			r.setReason(endDuplicate)
			return errRefused
		}
		loser = old
	}
	c.mu.byID[r.peer.ID] = r
	c.publishRoutesLocked()
	others := *c.routes.Load()
	c.mu.Unlock()
	if loser != nil {
		loser.close(endDuplicate)
	}
	r.send(c.interest.appendAllLocked(nil))
	c.log.Noticef("Route to %s (%s, %s) established", r.peer.Name, r.peer.ID, r.conn.RemoteAddr())
	// Tell the other peers about the new one, so the mesh closes.
	gossip, _ := json.Marshal(info{Cluster: c.opts.Name, Name: c.name, ID: c.id, Peers: []string{r.peer.RouteURL}})
	line := append(append([]byte("INFO "), gossip...), "\r\n"...)
	for _, o := range others {
		if o != r {
			o.send(line)
		}
	}
	c.peersChanged()
	return nil
}

// unregister drops a route that ended, with its interest.
func (c *Cluster) unregister(r *route) {
	c.mu.Lock()
	if c.mu.byID[r.peer.ID] != r {
		c.mu.Unlock()
		return
	}
	delete(c.mu.byID, r.peer.ID)
	c.publishRoutesLocked()
	closed := c.mu.closed
	c.mu.Unlock()
	c.log.Noticef("Route to %s (%s) closed", r.peer.Name, r.peer.ID)
	if !closed {
		c.peersChanged()
	}
}

// handle processes one operation of a ready route.
func (r *route) handle(o *op) error {
	switch o.kind {
	case opPing:
		r.send([]byte("PONG\r\n"))
	case opPong:
		r.mu.Lock()
		r.mu.pingsOut = 0
		r.mu.Unlock()
		r.counters.ponged(time.Now())
	case opInfo:
		var in info
		if json.Unmarshal(o.arg, &in) == nil {
			r.c.learn(in.Peers)
		}
	case opErr:
		r.c.log.Warnf("Route to %s: peer says: %s", r.peer.Name, o.arg)
	case opSubAdd, opSubDel:
		r.setInterest(string(o.account), string(o.subject), o.queue, o.kind == opSubAdd)
	case opMsg:
		r.counters.received(len(o.data))
		// The account's name is kept from the last message: routed
		// messages mostly come from one account, and the comparison
		// does not allocate.
		if string(o.account) != r.lastAccount {
			r.lastAccount = string(o.account)
		}
		r.handlers = r.c.srv.DeliverFromRoute(r.lastAccount, o.routeSubject, o.subject, o.reply, o.data[:o.hdrLen], o.data[o.hdrLen:], o.plain, o.queues, o.clientsOnly, r.handlers[:0], r.flush)
		if len(r.handlers) > 0 {
			err := r.queueDelivery(o, r.handlers)
			clear(r.handlers)
			return err
		}
	case opFwd:
		r.counters.received(len(o.data))
		return r.queueDelivery(o, nil)
	case opRaft:
		r.counters.received(len(o.data))
		// Handed over on the reader, without waiting: the callee
		// copies what it keeps.
		if f := r.c.opts.OnRaft; f != nil {
			f(r.peer.Name, o.data)
		}
	}
	return nil
}

func (r *route) setInterest(acc, subj, queue string, add bool) {
	r.interest.Lock()
	defer r.interest.Unlock()
	idx := r.interest.byAccount[acc]
	if idx == nil {
		if !add {
			return
		}
		idx = subject.NewIndex[rsub]()
		r.interest.byAccount[acc] = idx
	}
	v := rsub{subj, queue}
	if add {
		_ = idx.Insert(subj, queue, v) // an invalid subject matches nothing
	} else {
		idx.Remove(subj, queue, v)
	}
}

// match returns the peer's interest in subj, nil for none.
func (r *route) match(acc string, subj []byte) *subject.Result[rsub] {
	r.interest.RLock()
	idx := r.interest.byAccount[acc]
	r.interest.RUnlock()
	if idx == nil {
		return nil
	}
	return idx.MatchBytes(subj)
}

func (r *route) setReason(e endReason) {
	r.mu.Lock()
	r.mu.reason = e
	r.mu.Unlock()
}

// send queues b (copied) for the peer; it never blocks. A route whose
// backlog passes MaxPending is cut as a slow consumer.
func (r *route) send(b []byte) {
	r.mu.Lock()
	r.appendLocked(b)
	r.mu.Unlock()
}

func (r *route) appendLocked(b []byte) {
	if r.mu.closed {
		return
	}
	r.mu.out.add(b)
	r.kickLocked()
}

// kickLocked wakes the writer, or cuts a slow route.
func (r *route) kickLocked() {
	if r.mu.out.size > r.c.opts.MaxPending {
		r.c.log.Warnf("Slow route to %s: %d bytes pending, closing", r.peer.Name, r.mu.out.size)
		r.closeLocked(endRan)
		return
	}
	if r.mu.out.size > r.c.stallBytes() {
		r.over.Store(true)
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *route) close(e endReason) {
	r.mu.Lock()
	r.closeLocked(e)
	r.mu.Unlock()
}

func (r *route) closeLocked(e endReason) {
	if r.mu.closed {
		return
	}
	r.mu.closed = true
	if r.mu.reason == endFailed || r.mu.reason == endRan {
		r.mu.reason = e
	}
	r.mu.out = outQueue{}
	close(r.done)
	closeNow(r.conn)
}

// closeNow closes conn at once. A TLS connection's own Close first
// sends a close_notify alert, which waits (up to 5 s) behind a write
// stuck on a slow peer; callers hold locks publishers need, so the
// socket underneath is closed instead (runRoute's final Close then
// fails fast).
func closeNow(conn net.Conn) {
	if tc, ok := conn.(*tls.Conn); ok {
		_ = tc.NetConn().Close()
		return
	}
	_ = conn.Close()
}

// writeLoop writes what is queued and sends PINGs; a peer that leaves
// MaxPingsOut of them unanswered is cut.
func (r *route) writeLoop() {
	defer r.c.wg.Done()
	tick := time.NewTicker(r.c.opts.PingInterval)
	defer tick.Stop()
	for {
		select {
		case <-r.done:
			return
		case <-tick.C:
			r.mu.Lock()
			if r.mu.pingsOut >= r.c.opts.MaxPingsOut {
				r.c.log.Warnf("Stale route to %s: %d pings unanswered, closing", r.peer.Name, r.mu.pingsOut)
				r.closeLocked(endRan)
				r.mu.Unlock()
				return
			}
			r.mu.pingsOut++
			r.appendLocked([]byte("PING\r\n"))
			r.counters.pinged(time.Now())
			r.mu.Unlock()
		case <-r.wake:
			// Swap buffers: the peer's backlog is written while new
			// messages go to the spare one.
			r.mu.Lock()
			bufs, size := r.mu.out.take()
			if size == 0 {
				r.mu.Unlock()
				continue
			}
			r.mu.inFlight = size
			r.mu.Unlock()
			_ = r.conn.SetWriteDeadline(time.Now().Add(2 * r.c.opts.PingInterval))
			n, err := writeChunks(r.conn, bufs)
			r.counters.wrote(int(n))
			r.mu.Lock()
			r.mu.inFlight = 0
			r.over.Store(r.mu.out.size > r.c.stallBytes())
			if r.mu.drained != nil {
				close(r.mu.drained)
				r.mu.drained = nil
			}
			r.mu.Unlock()
			if err != nil {
				r.close(endRan)
				return
			}
		}
	}
}
