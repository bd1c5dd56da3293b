package server

import (
	"crypto/tls"
	"time"

	"github.com/cairn-db/cairn/internal/auth"
	"github.com/cairn-db/cairn/internal/wire"
)

// Options configure a Server. Zero values take the defaults below, which
// match nats-server's where the two overlap.
type Options struct {
	Host string // listen address; default 127.0.0.1
	Port int    // default 4222; -1 picks a free port
	Name string // server_name in INFO; default: the server id

	MaxPayload     int // default 1 MiB
	MaxControlLine int // default 4 KiB
	MaxConnections int // default 65536
	// MaxSubscriptions limits the subscriptions of one connection; 0 (the
	// default) is no limit (nats-server: max_subscriptions).
	MaxSubscriptions int
	MaxPending       int           // outbound bytes a client may lag; default 64 MiB
	PingInterval     time.Duration // default 2m
	MaxPingsOut      int           // default 2
	WriteDeadline    time.Duration // default 10s

	// Auth is who may connect (authorization {}, no_auth_user, --user,
	// --pass, --auth); the zero value lets everyone in. See internal/auth.
	Auth auth.Config

	// TLSConfig, when set, makes clients use TLS (tls {}); TLS 1.2 is
	// the minimum. Certificates and client verification (verify:
	// ClientAuth RequireAndVerifyClientCert with ClientCAs) are the
	// caller's. See tls.go.
	TLSConfig *tls.Config
	// TLSTimeout bounds the handshake; default 2s. With TLS the auth
	// timeout defaults to TLSTimeout + 1s.
	TLSTimeout time.Duration
	// TLSHandshakeFirst sends no INFO before the handshake
	// (handshake_first); with TLSHandshakeFirstFallback > 0, a client
	// silent for that long gets INFO first after all ("auto": 50ms).
	TLSHandshakeFirst         bool
	TLSHandshakeFirstFallback time.Duration
	// AllowNonTLS accepts plain-text clients too (allow_non_tls).
	AllowNonTLS bool

	// JetStream is reported in INFO (set when the KV/JetStream layer is on).
	JetStream bool

	Debug, Trace bool
	Logger       *Logger // default: standard error
}

// Defaults.
const (
	DefaultHost           = "127.0.0.1"
	DefaultPort           = 4222
	DefaultMaxConnections = 64 * 1024
	DefaultMaxPending     = 64 << 20
	DefaultPingInterval   = 2 * time.Minute
	DefaultMaxPingsOut    = 2
	DefaultWriteDeadline  = 10 * time.Second
)

// CompatVersion is the nats-server version Cairn announces in INFO.
// Clients switch features on by this string, so it names the oldest
// nats-server release whose client-visible features Cairn implements:
// 2.11 brings per-message TTLs and subject delete markers (ADR-43,
// ADR-48), which KV clients only use when the server is at least 2.11.
const CompatVersion = "2.11.0"

// Version is Cairn's own version, reported in INFO as "cairn_version".
var Version = "0.1.0-dev"

func (o *Options) setDefaults() {
	if o.Host == "" {
		o.Host = DefaultHost
	}
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.MaxPayload <= 0 {
		o.MaxPayload = wire.DefaultMaxPayload
	}
	if o.MaxControlLine <= 0 {
		o.MaxControlLine = wire.DefaultMaxControlLine
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	if o.PingInterval <= 0 {
		o.PingInterval = DefaultPingInterval
	}
	if o.MaxPingsOut <= 0 {
		o.MaxPingsOut = DefaultMaxPingsOut
	}
	if o.WriteDeadline <= 0 {
		o.WriteDeadline = DefaultWriteDeadline
	}
	if o.Logger == nil {
		o.Logger = NewLogger(nil, o.Debug, o.Trace)
	}
}
