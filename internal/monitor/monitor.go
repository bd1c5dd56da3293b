package monitor

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/cairn-db/cairn/internal/server"
)

// Core is the NATS server reported on (*server.Server).
type Core interface {
	// ID and Name are the server id and name announced in INFO.
	ID() string
	Name() string
	// Settings returns the limits and security settings in force.
	Settings() server.Settings
	// Stats returns the counters; they never go backwards.
	Stats() server.Stats
	// Conns returns the open client connections, with their
	// subscriptions when withSubs.
	Conns(withSubs bool) []server.ConnInfo
	// ClosedConns returns the latest closed client connections,
	// oldest first.
	ClosedConns() []server.ClosedConnInfo
	// AccountStats returns every account with its subscription
	// index's statistics.
	AccountStats() []server.AccountStats
}

// JetStream is the storage side (the daemon). Its methods are safe for
// concurrent use.
type JetStream interface {
	// Health returns nil when every account's store answers a read,
	// else the first failure. It returns once ctx is done at the latest.
	Health(ctx context.Context) error
	// Varz returns the JetStream part of /varz.
	Varz() JetStreamVarz
	// JszAccounts returns the accounts with JetStream by name, each
	// with its usage, limits and streams, and the streams' consumers
	// when withConsumers.
	JszAccounts(withConsumers bool) []JszAccount
}

// Options configure a Monitor.
type Options struct {
	// Host and Port are where to listen; Port -1 (or 0) picks a free
	// port.
	Host string
	Port int
	// Secure serves HTTPS instead of HTTP (nats-server's https_port),
	// with the configuration TLSConfig returns at each handshake (so a
	// reloaded certificate applies) and no client certificate asked
	// for, as nats-server. Listen fails when TLSConfig is nil or
	// returns nil.
	Secure    bool
	TLSConfig func() *tls.Config
	// Core is required. JetStream is nil when JetStream is off,
	// Cluster for a server alone (cluster.go).
	Core      Core
	JetStream JetStream
	Cluster   Cluster
	Logger    *server.Logger
	// HealthTimeout bounds the store check of /healthz; default
	// DefaultHealthTimeout.
	HealthTimeout time.Duration
	// SystemAccount is the name of the system account (/accountz).
	SystemAccount string
	// Handlers are served beside the monitor's own endpoints, by path
	// (such as "/metrics"). A path of the monitor's own is refused.
	Handlers map[string]http.Handler
}

// DefaultHealthTimeout is how long /healthz waits for the stores.
const DefaultHealthTimeout = 2 * time.Second

// Monitor answers the monitoring requests: over HTTP once Listen has
// been called, and directly through its methods (Varz, Connz, …) for
// the system account's requests, which need no port.
type Monitor struct {
	opts   Options
	mux    *http.ServeMux
	health healthCheck // healthz.go
	proc   procSampler // proc.go

	// ln, tcp, http and done are set by Listen; nil before. ln is tcp,
	// or tcp wrapped in TLS.
	ln   net.Listener
	tcp  net.Listener
	http *http.Server
	done chan struct{}

	mu struct {
		sync.Mutex
		requests map[string]uint64 // by path, for http_req_stats
	}
}

// New returns a Monitor that does not listen yet.
func New(opts Options) (*Monitor, error) {
	if opts.Core == nil {
		return nil, errors.New("monitor: no server to report on")
	}
	if opts.Logger == nil {
		opts.Logger = server.NewLogger(nil, false, false)
	}
	if opts.HealthTimeout <= 0 {
		opts.HealthTimeout = DefaultHealthTimeout
	}
	m := &Monitor{opts: opts, mux: http.NewServeMux()}
	m.mu.requests = make(map[string]uint64)
	m.proc.init(time.Now())
	own := map[string]http.HandlerFunc{
		HealthzPath:  m.handleHealthz,
		VarzPath:     m.handleVarz,
		ConnzPath:    m.handleConnz,
		SubszPath:    m.handleSubsz,
		JszPath:      m.handleJsz,
		AccountzPath: m.handleAccountz,
		RoutezPath:   m.handleRoutez,
		// nats-server answers both paths.
		SubscriptionsPath: m.handleSubsz,
	}
	for path, h := range own {
		m.mux.HandleFunc(path, h)
	}
	for path, h := range opts.Handlers {
		if _, dup := own[path]; dup {
			return nil, fmt.Errorf("monitor: path %s is the monitor's own", path)
		}
		m.mux.Handle(path, h)
	}
	return m, nil
}

// Start is New then Listen.
func Start(opts Options) (*Monitor, error) {
	m, err := New(opts)
	if err != nil {
		return nil, err
	}
	if err := m.Listen(); err != nil {
		return nil, err
	}
	return m, nil
}

// Listen listens on Options.Host and Port and serves in the background,
// logging nats-server's line "Starting http monitor on host:port". It
// fails when the address cannot be bound. Call it once.
func (m *Monitor) Listen() error {
	if m.ln != nil {
		return errors.New("monitor: already listening")
	}
	opts := m.opts
	port := opts.Port
	if port < 0 {
		port = 0
	}
	addr := net.JoinHostPort(opts.Host, strconv.Itoa(port))
	var serverTLS *tls.Config
	if opts.Secure {
		if opts.TLSConfig == nil || opts.TLSConfig() == nil {
			return errors.New("TLS cert and key required for HTTPS")
		}
		serverTLS = &tls.Config{GetConfigForClient: m.handshakeConfig}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("monitor: can't listen to the monitor port %s: %w", addr, err)
	}
	m.tcp = ln
	if serverTLS != nil {
		ln = tls.NewListener(ln, serverTLS)
	}
	m.ln, m.done = ln, make(chan struct{})
	m.http = &http.Server{
		Handler:           m.mux,
		MaxHeaderBytes:    1 << 20,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       idleTimeout,
		ErrorLog:          log.New(logWriter{opts.Logger}, "monitoring: ", 0),
	}
	opts.Logger.Noticef("Starting %s monitor on %s", m.Scheme(), net.JoinHostPort(opts.Host, strconv.Itoa(m.Port())))
	go func() {
		defer close(m.done)
		_ = m.http.Serve(ln) // ErrServerClosed after Close
	}()
	return nil
}

// Paths, as nats-server's.
const (
	HealthzPath = "/healthz"
	VarzPath    = "/varz"
)

// Port returns the bound port, 0 when not listening.
func (m *Monitor) Port() int {
	if m.ln == nil {
		return 0
	}
	return m.tcp.Addr().(*net.TCPAddr).Port
}

// Scheme returns "https" when the monitor serves HTTPS, else "http".
func (m *Monitor) Scheme() string {
	if m.opts.Secure {
		return "https"
	}
	return "http"
}

// handshakeConfig is the TLS configuration of one HTTPS handshake: the
// server's current one, without asking for a client certificate.
func (m *Monitor) handshakeConfig(*tls.ClientHelloInfo) (*tls.Config, error) {
	cfg := m.opts.TLSConfig()
	if cfg == nil {
		return nil, errors.New("monitor: no TLS configuration")
	}
	cfg = cfg.Clone()
	cfg.ClientAuth = tls.NoClientCert
	return cfg, nil
}

// Addr returns the bound address, nil when not listening.
func (m *Monitor) Addr() net.Addr {
	if m.ln == nil {
		return nil
	}
	return m.tcp.Addr()
}

// Close stops serving: it closes the listener, waits up to
// closeTimeout for the requests in progress, closes every connection,
// and waits for a store health check in flight. After it returns the
// monitor reads nothing of Core or JetStream, which may then be
// closed. Idempotent.
func (m *Monitor) Close() {
	if m.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		_ = m.http.Shutdown(ctx)
		cancel()
		_ = m.http.Close()
		<-m.done
	}
	m.health.wait()
}

// closeTimeout bounds how long Close waits for requests in progress.
const closeTimeout = 2 * time.Second

// idleTimeout is how long a keep-alive connection may wait for its next
// request (a variable for tests). ReadHeaderTimeout only bounds a
// request that has begun: without this, a client that made one request
// could keep its connection, a file descriptor and a goroutine, for
// good, and thousands of them. Scrapers that come back within it keep
// their connection.
var idleTimeout = 2 * time.Minute

// count records a request to path (http_req_stats).
func (m *Monitor) count(path string) {
	m.mu.Lock()
	m.mu.requests[path]++
	m.mu.Unlock()
}

func (m *Monitor) requestStats() map[string]uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]uint64, len(m.mu.requests))
	for k, v := range m.mu.requests {
		out[k] = v
	}
	return out
}

// respond writes a JSON answer as nats-server does (handleResponse).
func respond(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// queryBool reads a boolean query parameter; on a bad value it answers
// 400 with nats-server's text and returns false.
func queryBool(w http.ResponseWriter, r *http.Request, name string) (value, ok bool) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return false, true
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = fmt.Fprintf(w, "Error decoding boolean for '%s': %v", name, err)
		return false, false
	}
	return v, true
}

// queryInt reads an integer query parameter (0 when absent); on a bad
// value it answers 400 with nats-server's text and returns false.
func queryInt(w http.ResponseWriter, r *http.Request, name string) (int, bool) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, true
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		badRequest(w, fmt.Sprintf("Error decoding int for '%s': %v", name, err))
		return 0, false
	}
	return v, true
}

// respondJSON answers 200 with v indented, as nats-server.
func (m *Monitor) respondJSON(w http.ResponseWriter, path string, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		m.opts.Logger.Errorf("Error marshaling response to %s request: %v", path, err)
	}
	respond(w, http.StatusOK, b)
}

// logWriter sends net/http's own error lines to the server log.
type logWriter struct{ log *server.Logger }

func (l logWriter) Write(p []byte) (int, error) {
	l.log.Errorf("%s", trimNewline(p))
	return len(p), nil
}

func trimNewline(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}
