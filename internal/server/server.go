package server

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairn-db/cairn/internal/auth"
)

// Server is a running NATS protocol server. Create it with New, then
// call Start; Shutdown stops it. All methods are safe for concurrent use.
type Server struct {
	opts Options
	log  *Logger
	id   string

	// global is the global account; accounts the named ones
	// (account.go).
	global   *Account
	accounts accounts
	// auth is who may connect; a reload replaces it while holding
	// authMu, which a client holds for reading while it authenticates
	// and records who it is (reload.go). Use authn to read it.
	auth   atomic.Pointer[auth.Authenticator]
	authMu sync.RWMutex
	// tlsConf is the TLS configuration new handshakes use (with
	// TLSConfig set); a reload replaces it.
	tlsConf atomic.Pointer[tls.Config]
	// reloadMu serialises reloads.
	reloadMu sync.Mutex

	listener net.Listener
	nextCID  atomic.Uint64
	started  time.Time
	stats    serverStats // stats.go

	mu struct {
		sync.Mutex
		clients     map[uint64]*client
		handshaking map[net.Conn]struct{}
		shutdown    bool
		// ldm is set once lame duck mode has begun (lameduck.go); the
		// listener is then closed and no client is accepted.
		ldm bool
		// outMsgs and outBytes are the deliveries to removed clients
		// (stats.go).
		outMsgs, outBytes int64
	}
	// closed keeps the latest closed connections (closed.go).
	closed closedRing
	done   chan struct{} // closed when the accept loop has ended
	// quit is closed by Shutdown; lame duck mode stops waiting on it.
	quit chan struct{}
	// handshakes counts the connections in their TLS phase (tls.go),
	// whose sockets are in mu.handshaking until they are registered.
	handshakes sync.WaitGroup

	hooks testHooks // nil functions outside tests

	disc discovery // cluster and connect_urls in INFO (connect_urls.go)
}

// testHooks let tests stop a goroutine at the points where races were
// once possible, to force an interleaving instead of hoping for it. Set
// them before Start; all are nil in production.
type testHooks struct {
	// subRecorded runs in Sub after the sid is recorded in the client
	// and before the subscription is in the index.
	subRecorded func(c *client)
	// unsubFound runs in Unsub with a max after the subscription is
	// found and before the max is applied.
	unsubFound func(c *client)
}

// New validates opts and returns a server that is not yet listening.
func New(opts Options) (*Server, error) {
	opts.setDefaults()
	opts.setupTLS()
	if opts.Port < -1 || opts.Port > 65535 {
		return nil, fmt.Errorf("server: invalid port %d", opts.Port)
	}
	if opts.MaxPayload > opts.MaxPending {
		// nats-server's check and text (validateOptions).
		return nil, fmt.Errorf("server: max_payload (%d) cannot be higher than max_pending (%d)", opts.MaxPayload, opts.MaxPending)
	}
	if opts.MaxSubscriptions < 0 {
		return nil, fmt.Errorf("server: invalid max_subscriptions %d", opts.MaxSubscriptions)
	}
	if err := opts.checkTLSMap(); err != nil {
		return nil, err
	}
	authn, err := auth.New(opts.Auth)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s := &Server{
		opts: opts,
		log:  opts.Logger,
		id:   newServerID(),
		done: make(chan struct{}),
		quit: make(chan struct{}),
	}
	s.auth.Store(authn)
	s.stats.configLoadTimeNs.Store(time.Now().UnixNano())
	if opts.TLSConfig != nil {
		s.tlsConf.Store(opts.TLSConfig)
	}
	s.global = newAccount(s, GlobalAccount)
	if s.opts.Name == "" {
		s.opts.Name = s.id
	}
	s.mu.clients = make(map[uint64]*client)
	s.mu.handshaking = make(map[net.Conn]struct{})
	return s, nil
}

// maxPayloadWarn is the max_payload above which nats-server warns.
const maxPayloadWarn = 8 * 1024 * 1024

// Logger returns the server's logger.
func (s *Server) Logger() *Logger { return s.log }

// ID returns the server id announced in INFO.
func (s *Server) ID() string { return s.id }

// Name returns the server name announced in INFO.
func (s *Server) Name() string { return s.opts.Name }

// Start binds the listener and starts accepting clients in the
// background. It fails, for example, when the port is in use.
func (s *Server) Start() error {
	port := s.opts.Port
	if port == -1 {
		port = 0
	}
	addr := net.JoinHostPort(s.opts.Host, strconv.Itoa(port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("server: cannot listen on %s: %w", addr, err)
	}
	s.listener = ln
	s.started = time.Now()
	if s.authn().PlaintextPasswords() {
		s.log.Warnf("Plaintext passwords detected, use nkeys or bcrypt")
	}
	if s.opts.MaxPayload > maxPayloadWarn {
		s.log.Warnf("Maximum payloads over 8.00 MB are generally discouraged and could lead to poor performance")
	}
	s.log.Noticef("Listening for client connections on %s", ln.Addr())
	s.log.Noticef("Server is ready")
	go s.acceptLoop()
	return nil
}

// Addr returns the bound listener address (after Start).
func (s *Server) Addr() *net.TCPAddr { return s.listener.Addr().(*net.TCPAddr) }

// ClientURL returns the nats:// URL clients connect to.
func (s *Server) ClientURL() string {
	return "nats://" + net.JoinHostPort(s.Addr().IP.String(), strconv.Itoa(s.Addr().Port))
}

// NumClients returns the number of connected clients.
func (s *Server) NumClients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mu.clients)
}

// NumSubscriptions returns the number of subscriptions, in-process ones
// included.
func (s *Server) NumSubscriptions() int {
	n := 0
	for _, a := range s.allAccounts() {
		n += a.subs.Count()
	}
	return n
}

func (s *Server) acceptLoop() {
	defer close(s.done)
	var delay time.Duration
	for {
		conn, err := s.listener.Accept()
		if err != nil {
			if s.isShutdown() || s.InLameDuckMode() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary failures such as running out of file
			// descriptors: back off and keep serving.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Errorf("Temporary accept error: %v; retrying in %v", err, delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		s.addClient(conn)
	}
}

func (s *Server) addClient(conn net.Conn) {
	c := newClient(s, s.nextCID.Add(1), conn)
	if s.opts.TLSConfig != nil {
		s.mu.Lock()
		if s.mu.shutdown {
			s.mu.Unlock()
			conn.Close()
			return
		}
		s.mu.handshaking[conn] = struct{}{}
		s.handshakes.Add(1)
		s.mu.Unlock()
		go s.tlsAccept(c)
		return
	}
	s.register(c)
}

// register adds a new client to the server and starts it, or refuses it
// when the server is shutting down or full.
func (s *Server) register(c *client) {
	conn := c.conn
	s.mu.Lock()
	if s.mu.shutdown {
		s.mu.Unlock()
		conn.Close()
		return
	}
	if s.opts.MaxConnections < 0 || len(s.mu.clients) >= s.opts.MaxConnections {
		s.mu.Unlock()
		s.log.Errorf("%s - maximum connections exceeded", c)
		if !c.infoSent {
			c.sendInfo()
		}
		c.sendErr("maximum connections exceeded")
		c.closeConnection("Maximum Connections Exceeded")
		go c.writeLoop()
		return
	}
	s.mu.clients[c.cid] = c
	s.mu.Unlock()
	s.stats.totalConnections.Add(1)
	c.start()
}

// removeClient removes a closed client, adding its deliveries, final
// once it is closed, to the server's (stats.go).
func (s *Server) removeClient(c *client, outMsgs, outBytes int64, closed *ClosedConnInfo) {
	s.mu.Lock()
	registered := s.mu.clients[c.cid] == c
	if registered {
		s.mu.outMsgs += outMsgs
		s.mu.outBytes += outBytes
		delete(s.mu.clients, c.cid)
	}
	s.mu.Unlock()
	if registered {
		s.closed.add(*closed)
	}
}

func (s *Server) isShutdown() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.shutdown
}

// Shutdown stops accepting connections, flushes and closes every client,
// and returns when the accept loop has ended and every client's reader
// has finished what it was doing (a publish being stored, say), each
// within a bound, so that storage can be closed after it. It stops lame
// duck mode if it runs. It is idempotent.
func (s *Server) Shutdown() {
	s.mu.Lock()
	if s.mu.shutdown {
		s.mu.Unlock()
		return
	}
	s.log.Noticef("Initiating Shutdown...")
	s.mu.shutdown = true
	close(s.quit)
	clients := make([]*client, 0, len(s.mu.clients))
	for _, c := range s.mu.clients {
		clients = append(clients, c)
	}
	for conn := range s.mu.handshaking {
		conn.Close() // fails the handshake; tlsAccept returns
	}
	s.mu.Unlock()
	if s.listener != nil {
		s.listener.Close()
		<-s.done
	}
	s.handshakes.Wait()
	for _, c := range clients {
		c.closeConnection("Server Shutdown")
	}
	// One deadline for all: a stuck client costs it once, not each.
	deadline := time.Now().Add(shutdownWait)
	for _, c := range clients {
		c.waitClosed(time.Until(deadline))
	}
	for _, c := range clients {
		c.waitReader(time.Until(deadline))
	}
	s.log.Noticef("Server Exiting..")
}

// shutdownWait bounds how long Shutdown waits for clients to flush
// their output and for their readers to finish an operation in flight.
const shutdownWait = 2 * time.Second

// infoJSON returns the INFO document for one client.
func (s *Server) infoJSON(c *client) []byte { return s.infoJSONLDM(c, false) }

// infoJSONLDM returns the INFO document for one client, with ldm: true
// when ldm is set (lame duck mode, lameduck.go).
func (s *Server) infoJSONLDM(c *client, ldm bool) []byte {
	info := map[string]any{
		"server_id":     s.id,
		"server_name":   s.opts.Name,
		"version":       CompatVersion,
		"proto":         1,
		"go":            runtime.Version(),
		"host":          s.opts.Host,
		"port":          s.Addr().Port,
		"headers":       true,
		"max_payload":   s.opts.MaxPayload,
		"client_id":     c.cid,
		"client_ip":     c.host,
		"cairn_version": Version,
	}
	if s.opts.JetStream {
		info["jetstream"] = true
	}
	if ldm {
		info["ldm"] = true
	}
	if s.authn().Advertised() {
		info["auth_required"] = true
	}
	if c.nonce != nil {
		info["nonce"] = string(c.nonce)
	}
	s.tlsInfo(info)
	s.discoveryInfo(info, ldm)
	b, _ := json.Marshal(info)
	return b
}

// newServerID returns a 56-character id in the style of nats-server's
// (an upper-case base32 string starting with 'N').
func newServerID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	var b [56]byte
	_, _ = rand.Read(b[:])
	b[0] = 'N'
	for i := 1; i < len(b); i++ {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}
