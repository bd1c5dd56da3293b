package server

import (
	"crypto/x509"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairn-db/cairn/internal/auth"
	"github.com/cairn-db/cairn/internal/wire"
)

// client is one connection. Its reader goroutine parses input and routes
// publishes; its writer goroutine flushes the outbound buffer that any
// goroutine may append to.
type client struct {
	srv    *Server
	cid    uint64
	conn   net.Conn
	host   string
	parser *wire.Parser
	log    *Logger
	// infoSent is set when INFO went out before the TLS handshake
	// (tls.go); it is written before the client's goroutines start.
	infoSent bool

	// Set by CONNECT; read only by the reader goroutine, except echo and
	// headers, which publishers on other goroutines read under mu.
	opts connectOpts

	// Authentication (auth.go). nonce is set at creation; the rest are
	// read and written only by the reader goroutine.
	nonce        []byte
	peerCert     *x509.Certificate // the client's TLS certificate, set before start
	awaitConnect bool              // the first byte has yet to be checked
	authDone     bool
	identity     auth.Identity
	creds        auth.Credentials // those identity was proved with
	// perm is identity's permissions and their caches (perms.go).
	perm permState
	// acc is the account the client publishes and subscribes in: the
	// global one until it authenticates as a user of another. It is set
	// before the client's first SUB or PUB is processed, and read by
	// other goroutines closing the client.
	acc atomic.Pointer[Account]

	mu struct {
		sync.Mutex
		out      []byte // pending outbound bytes
		spare    []byte // the writer's other buffer
		closed   bool
		reason   string
		subs     map[string]*subscription // by sid
		pingsOut int
		// rttStart is when the PING whose PONG measures the round trip
		// was sent (zero: none out); pongSent that the client's first
		// PING was answered (rtt.go).
		rttStart time.Time
		pongSent bool
		stall    chan struct{} // closed by the writer after its next write
		// stallMissed is set when a route reader's wait on stall timed
		// out, until the writer's next write (route_flush.go).
		stallMissed bool
		authed      bool // the client has authenticated
		// auth is who the client is and against which authenticator,
		// for a reload to check again (reload.go); nil until known.
		auth *authState
		// outMsgs and outBytes count the messages delivered to the
		// client (stats.go).
		outMsgs, outBytes int64
	}
	stats clientStats // stats.go
	// accepted is when the connection was accepted; lastActivity the
	// end of the latest read with messages (Unix ns; 0: none), for
	// /connz.
	accepted     time.Time
	lastActivity atomic.Int64
	// rtt is the latest round trip time measured, in ns (0: none yet).
	rtt atomic.Int64

	authTimer *time.Timer   // runs authTimeout; nil without auth
	ping      *time.Timer   // runs pingTick; stopped under mu when closed
	flush     chan struct{} // signals the writer; capacity 1
	closed    chan struct{} // closed when the writer has finished
	// readDone is closed when the reader goroutine has returned.
	readDone chan struct{}

	// wmu serialises socket writes: the writer goroutine takes it
	// blocking, readers flushing inline take it only when free.
	wmu sync.Mutex
	// parsing is set while the reader goroutine processes input; output
	// queued for this client meanwhile is flushed by the reader when it
	// is done, instead of waking the writer for every message.
	parsing atomic.Bool
	// pcd holds the clients this reader delivered to during the current
	// read; they are flushed when it is processed. Reader goroutine only.
	pcd map[*client]struct{}
	// maxSubsLogged is set once a refused SUB has been logged.
	maxSubsLogged atomic.Bool
	// readBuf and parserBuf are the bytes of read buffer and parser
	// buffers the reader holds between reads (for tests and measuring).
	readBuf, parserBuf atomic.Int64
}

func newClient(s *Server, cid uint64, conn net.Conn) *client {
	c := &client{
		srv:      s,
		cid:      cid,
		conn:     conn,
		parser:   wire.NewParser(s.opts.MaxControlLine, s.opts.MaxPayload),
		log:      s.log,
		opts:     defaultConnectOpts(),
		flush:    make(chan struct{}, 1),
		closed:   make(chan struct{}),
		readDone: make(chan struct{}),
		pcd:      make(map[*client]struct{}),
		accepted: time.Now(),
	}
	// Under mu: pingTick reads c.ping under mu, and a short interval can
	// fire it before newClient returns.
	c.mu.Lock()
	c.ping = time.AfterFunc(s.opts.PingInterval, c.pingTick)
	c.mu.Unlock()
	c.host, _, _ = net.SplitHostPort(conn.RemoteAddr().String())
	c.mu.subs = make(map[string]*subscription)
	c.acc.Store(s.global)
	if s.authn().NonceRequired() {
		c.nonce = newNonce()
	}
	return c
}

// account returns the account the client belongs to.
func (c *client) account() *Account { return c.acc.Load() }

func (c *client) String() string {
	return c.conn.RemoteAddr().String() + " - cid:" + itoa(c.cid)
}

func (c *client) start() {
	c.log.Debugf("%s - Client connection created", c)
	c.startAuth()
	if !c.infoSent {
		c.sendInfo()
	}
	go c.writeLoop()
	go c.readLoop()
}

func (c *client) sendInfo() {
	c.queue(wire.AppendInfo(nil, c.srv.infoJSON(c)))
}

// Read buffers. A connection reads into its own small buffer while
// requests and replies trickle in, and into a large one from a pool,
// shared by all connections, while it streams: a read that fills the small
// buffer switches to a large one, and a read that leaves most of the large
// one empty (the socket is drained, the burst is over) hands it back. So
// an idle connection holds readSmall bytes however busy it once was
// (nats-server starts at 512 bytes, grows to 64 KiB and halves back on
// short reads).
const (
	readSmall = 512
	readLarge = 64 * 1024
	// readDrained is the read size below which the large buffer goes
	// back to the pool. nats.go flushes in 32 KiB writes, so a client
	// that streams keeps it.
	readDrained = readLarge / 8
)

var readPool = sync.Pool{New: func() any {
	b := make([]byte, readLarge)
	return &b
}}

func (c *client) readLoop() {
	defer close(c.readDone)
	defer c.closeConnection("Client Closed")
	small := make([]byte, readSmall)
	buf := small
	c.readBuf.Store(readSmall)
	var large *[]byte
	defer func() {
		if large != nil {
			readPool.Put(large)
		}
	}()
	for {
		n, err := c.conn.Read(buf)
		if n > 0 && c.awaitConnect {
			if err := c.firstByte(buf[0]); err != nil {
				c.protocolError(err)
				return
			}
		}
		if n > 0 {
			c.parsing.Store(true)
			perr := c.parser.Parse(buf[:n], c)
			c.parsing.Store(false)
			c.foldIn()
			c.flushDeferred()
			if perr != nil {
				c.protocolError(perr)
				return
			}
		}
		if err != nil {
			return
		}
		switch {
		case large == nil && n == len(buf):
			large = readPool.Get().(*[]byte)
			buf = *large
		case large != nil && n < readDrained:
			readPool.Put(large)
			large, buf = nil, small
		}
		c.readBuf.Store(int64(len(buf)))
		c.parserBuf.Store(int64(c.parser.Buffered()))
	}
}

// protocolError answers a fatal parse or handler error the way
// nats-server does, then closes.
func (c *client) protocolError(err error) {
	var fatal *fatalError
	switch {
	case errors.As(err, &fatal):
		if fatal.text != "" {
			c.sendErr(fatal.text)
		}
		c.log.Errorf("%s - %s", c, fatal.reason)
		c.closeConnection(fatal.reason)
	case errors.Is(err, errClosed):
		c.closeConnection("Client Closed")
	default:
		if text := wire.ErrText(err); text != "" {
			c.sendErr(text)
		}
		c.log.Errorf("%s - Protocol error: %v", c, err)
		c.closeConnection("Protocol Violation")
	}
}

// pingTick runs on the ping timer every PingInterval: a timer rather
// than a goroutine per connection, which would cost its stack. It is
// re-armed under c.mu unless the client is closed, so a closed client's
// timer never fires again.
func (c *client) pingTick() {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return
	}
	c.mu.pingsOut++
	stale := c.mu.pingsOut > c.srv.opts.MaxPingsOut
	if !stale {
		c.mu.rttStart = time.Now()
	}
	c.mu.Unlock()
	if stale {
		c.log.Debugf("%s - Stale Client Connection - Closing", c)
		c.sendErr("Stale Connection")
		c.closeConnection("Stale Connection")
		return
	}
	c.log.Tracef("%s - ->> [PING]", c)
	c.queue(wire.Ping)
	c.mu.Lock()
	if !c.mu.closed {
		c.ping.Reset(c.srv.opts.PingInterval)
	}
	c.mu.Unlock()
}

// queue appends b to the outbound buffer and wakes the writer.
func (c *client) queue(b []byte) {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return
	}
	c.mu.out = append(c.mu.out, b...)
	slow := len(c.mu.out) > c.srv.opts.MaxPending
	c.mu.Unlock()
	if slow {
		c.slowConsumer("MaxPending of " + itoa(uint64(c.srv.opts.MaxPending)) + " bytes exceeded")
		return
	}
	if !c.parsing.Load() {
		c.kick()
	}
}

func (c *client) kick() {
	select {
	case c.flush <- struct{}{}:
	default:
	}
}

func (c *client) sendErr(text string) {
	c.log.Tracef("%s - ->> [-ERR '%s']", c, text)
	c.queue(wire.AppendErr(nil, text))
}

func (c *client) slowConsumer(why string) {
	c.log.Warnf("%s - Slow Consumer Detected: %s", c, why)
	c.closeConnection("Slow Consumer")
}

// writeLoop flushes the outbound buffer whenever it is woken, until the
// client is closed; then it writes what is left (a final -ERR, say) and
// closes the socket.
func (c *client) writeLoop() {
	defer close(c.closed)
	defer c.conn.Close()
	for {
		<-c.flush
		if _, err := c.writeOut(true); err != nil {
			c.writeFailed(err)
			return
		}
		c.mu.Lock()
		more := len(c.mu.out) > 0
		closed := c.mu.closed
		c.mu.Unlock()
		if closed && !more {
			return
		}
		if more {
			c.kick()
		}
	}
}

// closeConnection marks the client closed, removes its subscriptions and
// lets the writer flush and close the socket. It is idempotent.
func (c *client) closeConnection(reason string) {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return
	}
	c.mu.closed = true
	c.mu.reason = reason
	c.ping.Stop()
	if c.authTimer != nil {
		c.authTimer.Stop()
	}
	closed := ClosedConnInfo{ConnInfo: c.baseInfo(), Stop: time.Now(), Reason: reason}
	c.fillInfoLocked(&closed.ConnInfo, true, maxClosedSubs)
	subs := c.mu.subs
	c.mu.subs = nil
	outMsgs, outBytes := c.mu.outMsgs, c.mu.outBytes // final: closed
	c.mu.Unlock()
	slices.SortFunc(closed.Subs, func(a, b SubInfo) int { return strings.Compare(a.SID, b.SID) })
	switch reason {
	case "Slow Consumer":
		c.srv.stats.slowConsumers.Add(1)
	case "Stale Connection":
		c.srv.stats.staleConnections.Add(1)
	}
	acc := c.account()
	for _, sub := range subs {
		acc.removeSub(sub.subject, sub.queue, sub)
	}
	c.srv.removeClient(c, outMsgs, outBytes, &closed)
	// Unblock a reader waiting on the socket; the writer still flushes
	// what is queued before closing it.
	_ = c.conn.SetReadDeadline(time.Now())
	c.kick()
	c.log.Debugf("%s - Client connection closed: %s", c, reason)
}

// bufferSizes returns the capacities of the buffers the client holds:
// its read buffer and the parser's (as of the reader's latest read), and
// the outbound buffer and its spare.
func (c *client) bufferSizes() (read, parser, out, spare int) {
	c.mu.Lock()
	out, spare = cap(c.mu.out), cap(c.mu.spare)
	c.mu.Unlock()
	return int(c.readBuf.Load()), int(c.parserBuf.Load()), out, spare
}

func (c *client) waitClosed(d time.Duration) {
	select {
	case <-c.closed:
	case <-time.After(d):
		c.conn.Close()
	}
}

func itoa(n uint64) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
