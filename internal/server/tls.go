package server

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/cairn-db/cairn/internal/wire"
)

// TLS for client connections. Everything here runs once per connection,
// before its reader and writer start; afterwards the client reads and
// writes a *tls.Conn like any net.Conn, so the only per-message cost is
// crypto/tls's own.
//
// What a client sees, as with nats-server v2.15.2 (server/server.go
// createClientEx, client.go doTLSHandshake):
//   - by default INFO goes out in plain text with tls_required (and
//     tls_verify with verify), then the client starts the handshake;
//   - with allow_non_tls INFO says tls_available instead, and the first
//     byte the client sends decides: 0x16 (a TLS record) is a handshake,
//     anything else a plain-text connection;
//   - with handshake_first nothing is sent before the handshake; INFO
//     comes over TLS. With a fallback delay ("auto": 50ms), a client
//     that sends nothing within the delay gets INFO in plain text and
//     then does the usual handshake;
//   - a handshake that has not completed within the TLS timeout (2s by
//     default) is closed, and so is one that fails: a bad or missing
//     client certificate under verify, a wrong CA on the client's side.
//
// Cairn answers one case where nats-server is silent: a client that
// sends plain text (CONNECT, say) where a handshake is required gets
// -ERR 'Secure Connection - TLS Required' in plain text before the
// close; nats-server 2.15.2 just closes.

// DefaultTLSTimeout is how long a client has to complete the TLS
// handshake (nats-server's TLS_TIMEOUT).
const DefaultTLSTimeout = 2 * time.Second

// errTLSRequired is the text for a plain-text client where TLS is
// required (nats-server's ErrSecureConnRequired text).
const errTLSRequired = "Secure Connection - TLS Required"

// tlsRecordHandshake is the first byte of a TLS handshake record.
const tlsRecordHandshake = 0x16

// setupTLS validates and completes the TLS options in New: TLS 1.2 at
// least, the TLS timeout's default, and an auth timeout of TLS timeout
// + 1s when none is set (nats-server's getDefaultAuthTimeout).
func (o *Options) setupTLS() {
	if o.TLSConfig == nil {
		return
	}
	cfg := o.TLSConfig.Clone()
	if cfg.MinVersion < tls.VersionTLS12 {
		cfg.MinVersion = tls.VersionTLS12
	}
	o.TLSConfig = cfg
	if o.TLSTimeout <= 0 {
		o.TLSTimeout = DefaultTLSTimeout
	}
	if o.Auth.Timeout <= 0 {
		o.Auth.Timeout = o.TLSTimeout + time.Second
	}
}

// checkTLSMap refuses verify_and_map (Auth.TLSMap) without TLS that
// verifies client certificates: the certificate is the user, so
// without verification a self-signed one naming a user would log in as
// that user. The config file's verify_and_map implies verify; this
// guards embedders and reloads.
func (o *Options) checkTLSMap() error {
	if !o.Auth.TLSMap {
		return nil
	}
	if o.TLSConfig == nil || o.TLSConfig.ClientAuth != tls.RequireAndVerifyClientCert {
		return errors.New("server: verify_and_map needs TLS that verifies client certificates (ClientAuth tls.RequireAndVerifyClientCert)")
	}
	return nil
}

// tlsInfo adds the TLS fields to an INFO document.
func (s *Server) tlsInfo(info map[string]any) {
	cfg := s.tlsConf.Load()
	if cfg == nil {
		return
	}
	if s.opts.AllowNonTLS {
		info["tls_available"] = true
	} else {
		info["tls_required"] = true
	}
	if cfg.ClientAuth == tls.RequireAndVerifyClientCert {
		info["tls_verify"] = true
	}
}

// tlsAccept runs the TLS phase of a new client on its own goroutine and
// then registers and starts it. The client is not registered yet, so no
// other goroutine touches it; its ping timer is stopped until the end.
// Shutdown closes the socket of a client still here and waits for it.
func (s *Server) tlsAccept(c *client) {
	raw := c.conn
	defer func() {
		s.mu.Lock()
		delete(s.mu.handshaking, raw)
		s.mu.Unlock()
		s.handshakes.Done()
	}()
	c.mu.Lock()
	c.ping.Stop()
	c.mu.Unlock()
	o := &s.opts
	deadline := time.Now().Add(o.TLSTimeout)
	_ = raw.SetDeadline(deadline)

	var pre []byte
	first := o.TLSHandshakeFirst
	if first && o.TLSHandshakeFirstFallback > 0 {
		// Only a TLS-first client speaks before INFO; wait that long.
		pre = readSome(raw, 4, o.TLSHandshakeFirstFallback)
		if len(pre) == 0 {
			first = false
		}
		deadline = time.Now().Add(o.TLSTimeout)
		_ = raw.SetDeadline(deadline)
	}
	if !first {
		if _, err := raw.Write(wire.AppendInfo(nil, s.infoJSON(c))); err != nil {
			c.tlsFailed("write error: "+err.Error(), true)
			return
		}
		c.infoSent = true
	}
	useTLS := true
	if !first && o.AllowNonTLS {
		// The first byte tells a handshake from plain text.
		pre = readSome(raw, 6, time.Until(deadline))
		useTLS = len(pre) > 0 && pre[0] == tlsRecordHandshake
		deadline = time.Now().Add(o.TLSTimeout)
		_ = raw.SetDeadline(deadline)
	}
	var conn net.Conn = raw
	if len(pre) > 0 {
		conn = &prefixConn{Conn: raw, pre: pre}
	}
	if useTLS {
		tc := tls.Server(conn, s.tlsConf.Load())
		if err := tc.Handshake(); err != nil {
			var rhe tls.RecordHeaderError
			if errors.As(err, &rhe) && !first {
				// Plain text where a handshake was expected.
				_, _ = raw.Write(wire.AppendErr(nil, errTLSRequired))
			}
			c.tlsFailed("TLS handshake error: "+err.Error(), quietTLSError(err))
			return
		}
		cs := tc.ConnectionState()
		if len(cs.PeerCertificates) > 0 {
			c.peerCert = cs.PeerCertificates[0]
		}
		c.log.Debugf("%s - TLS handshake complete, version %s, cipher suite %s", c, tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite))
		conn = tc
	}
	_ = raw.SetDeadline(time.Time{})
	c.conn = conn
	c.mu.Lock()
	c.ping.Reset(o.PingInterval)
	c.mu.Unlock()
	// Registered while still in mu.handshaking: a Shutdown from now on
	// either finds the client registered or makes register refuse it.
	s.register(c)
}

// tlsFailed closes a client whose TLS phase failed; it was never
// registered, so there is nothing else to undo.
func (c *client) tlsFailed(why string, quiet bool) {
	if quiet {
		c.log.Debugf("%s - %s", c, why)
	} else {
		c.log.Errorf("%s - %s", c, why)
	}
	c.mu.Lock()
	c.mu.closed = true
	c.mu.reason = "TLS Handshake Error"
	c.ping.Stop()
	c.mu.Unlock()
	c.conn.Close()
}

// readSome reads up to n bytes, waiting at most d for the first.
func readSome(conn net.Conn, n int, d time.Duration) []byte {
	b := make([]byte, n)
	_ = conn.SetReadDeadline(time.Now().Add(d))
	k, _ := io.ReadFull(conn, b)
	return b[:k]
}

// prefixConn replays bytes read before the protocol was known.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// quietTLSError tells the handshake failures logged at debug level, as
// nats-server does for clients: a peer that closes or resets (a port
// probe, a health check) or times out. Anything else (a bad
// certificate, plain text) is an error.
func quietTLSError(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || (errors.As(err, &ne) && ne.Timeout())
}
