package server

import (
	"fmt"
	"time"

	"github.com/cairn-db/cairn/internal/auth"
)

// Reloading the configuration (SIGHUP, cairn-server --signal reload).
//
// What a reload changes, as nats-server v2.15.2 does (server/reload.go):
//   - who may connect: users, passwords, tokens, nkeys, permissions,
//     no_auth_user's permissions, the auth timeout; new connections are
//     checked against the new configuration at once;
//   - open connections (reload_clients.go): a client whose user is gone,
//     or now in another account, is closed without a word (nats-server
//     closes it as "Client Closed"; the client reconnects and is refused
//     then); a client whose credentials no longer pass (a new password or
//     token) gets -ERR 'Authorization Violation' and is closed; any
//     other gets the new permissions, and each of its subscriptions the
//     new ones no longer allow is removed with -ERR 'Permissions
//     Violation for Subscription to "<subj>" (sid "<sid>")';
//   - the TLS certificate, key, CA and verify: new handshakes use them,
//     open connections keep theirs;
//   - debug and trace logging.
//
// What nats-server refuses to reload makes the whole reload fail with
// its words, "config reload not supported for <key>: old=…, new=…", and
// nothing changes: host, port, server_name, max_subscriptions,
// max_pending, allow_non_tls, no_auth_user (except removing it together
// with its user). Cairn refuses one more: turning TLS on or off (which
// nats-server does) needs a restart, rather than run without the TLS
// configured or drop it silently.
//
// What nats-server reloads but Cairn cannot yet is logged as a warning,
// "<key> changed: restart to apply", and the rest applies: max_payload,
// max_control_line, max_connections, ping_interval, ping_max,
// write_deadline, the TLS timeout and handshake_first.
//
// Cairn does not copy two things nats-server 2.15.2 does: with a single
// user (authorization { user, password }) every reload, even of an
// unchanged file, closes all its connections (they reconnect); and it
// re-runs bcrypt for every connection, holding up the reload, where
// Cairn checks each distinct user and password once per reload.

// authState is who a client is and the authenticator that said so;
// immutable, replaced whole under client.mu.
type authState struct {
	authn *auth.Authenticator
	id    auth.Identity
	creds auth.Credentials
}

// authn returns the authenticator in force.
func (s *Server) authn() *auth.Authenticator { return s.auth.Load() }

// recordAuth records who the client is for reloads to check again. The
// caller holds c.srv.authMu for reading.
func (c *client) recordAuth(id auth.Identity, creds auth.Credentials) {
	c.mu.Lock()
	c.recordAuthLocked(id, creds)
	c.mu.Unlock()
}

// recordAuthLocked is recordAuth with c.mu held.
func (c *client) recordAuthLocked(id auth.Identity, creds auth.Credentials) {
	c.mu.auth = &authState{authn: c.srv.authn(), id: id, creds: creds}
}

// connectAuth authenticates a CONNECT when authentication is required;
// otherwise the client is let in, and the credentials it sent are kept
// for a reload that turns authentication on. Reader goroutine; the
// error is fatal.
func (c *client) connectAuth(opts *connectOpts) error {
	// Held for reading from the authenticator's load to the record, so
	// that a reload sees either the record or its own authenticator used.
	c.srv.authMu.RLock()
	defer c.srv.authMu.RUnlock()
	if c.srv.authn().Required() {
		return c.authenticate(opts)
	}
	c.recordAuth(auth.Identity{}, auth.Credentials{User: opts.User, Password: opts.Pass, Token: opts.Token, Nkey: opts.Nkey, Sig: opts.Sig})
	return nil
}

// Reload applies opts, the configuration read again, to the running
// server (see above). It validates everything first: on error nothing
// has changed. The swap waits for the authentications in progress (a
// bcrypt comparison at most); then every open connection is checked
// against the new authentication, holding no lock new connections need
// (bcrypt is slow), and Reload returns once all are. Reloads are
// serialised; Logger in opts is ignored.
func (s *Server) Reload(opts Options) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	opts.Logger = s.log
	opts.setDefaults()
	opts.setupTLS()
	if opts.Name == "" {
		opts.Name = s.id
	}
	if opts.MaxPayload > opts.MaxPending {
		return fmt.Errorf("server: max_payload (%d) cannot be higher than max_pending (%d)", opts.MaxPayload, opts.MaxPending)
	}
	if err := s.refuseReload(&opts); err != nil {
		return err
	}
	if err := opts.checkTLSMap(); err != nil {
		return err
	}
	authn, err := auth.New(opts.Auth)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	for _, key := range s.restartNeeded(&opts) {
		s.log.Warnf("%s changed: restart to apply", key)
	}
	s.reloadLogLevels(opts.Debug, opts.Trace)
	if opts.TLSConfig != nil {
		// Read from the files again, changed or not: a certificate
		// renewed in place is the usual case.
		s.tlsConf.Store(opts.TLSConfig)
		s.log.Noticef("Reloaded: tls")
	}
	s.authMu.Lock()
	s.auth.Store(authn)
	s.authMu.Unlock()
	s.log.Noticef("Reloaded: authorization")
	if authn.PlaintextPasswords() {
		s.log.Warnf("Plaintext passwords detected, use nkeys or bcrypt")
	}
	s.stats.configLoadTimeNs.Store(time.Now().UnixNano())
	s.recheckClients(authn)
	return nil
}

// refuseReload returns nats-server's error for the first change it
// refuses to reload, or nil.
func (s *Server) refuseReload(o *Options) error {
	cur := &s.opts
	type change struct {
		key      string
		old, new any
	}
	changes := []change{
		{"host", cur.Host, o.Host},
		{"server_name", cur.Name, o.Name},
		{"max_subscriptions", cur.MaxSubscriptions, o.MaxSubscriptions},
		{"max_pending", cur.MaxPending, o.MaxPending},
		{"allow_non_tls", cur.AllowNonTLS, o.AllowNonTLS},
		{"tls", cur.TLSConfig != nil, o.TLSConfig != nil},
	}
	if o.Port != -1 {
		// As nats-server, a random port in the new configuration
		// keeps the one bound.
		changes = append(changes, change{"port", cur.Port, o.Port})
	}
	for _, c := range changes {
		if c.old != c.new {
			if c.key == "tls" {
				return fmt.Errorf("config reload not supported for tls: turning TLS on or off needs a restart")
			}
			return fmt.Errorf("config reload not supported for %s: old=%v, new=%v", c.key, c.old, c.new)
		}
	}
	return s.refuseNoAuthUser(o.Auth)
}

// refuseNoAuthUser refuses a change of no_auth_user, but for removing it
// together with its user (nats-server's rule).
func (s *Server) refuseNoAuthUser(cfg auth.Config) error {
	var old string
	if id, ok := s.authn().NoAuthIdentity(); ok {
		old = id.Name
	}
	if old == cfg.NoAuthUser {
		return nil
	}
	if old != "" && cfg.NoAuthUser == "" && !hasUser(cfg, old) {
		return nil
	}
	return fmt.Errorf("config reload not supported for no_auth_user: old=%v, new=%v", old, cfg.NoAuthUser)
}

// hasUser reports whether cfg has a user or nkey user called name.
func hasUser(cfg auth.Config, name string) bool {
	for _, u := range cfg.Users {
		if u.Name == name || u.Nkey == name {
			return true
		}
	}
	return false
}

// restartNeeded names the changed settings nats-server reloads and
// Cairn applies only at start.
func (s *Server) restartNeeded(o *Options) []string {
	cur := &s.opts
	var keys []string
	add := func(key string, changed bool) {
		if changed {
			keys = append(keys, key)
		}
	}
	add("max_payload", cur.MaxPayload != o.MaxPayload)
	add("max_control_line", cur.MaxControlLine != o.MaxControlLine)
	add("max_connections", cur.MaxConnections != o.MaxConnections)
	add("ping_interval", cur.PingInterval != o.PingInterval)
	add("ping_max", cur.MaxPingsOut != o.MaxPingsOut)
	add("write_deadline", cur.WriteDeadline != o.WriteDeadline)
	if cur.TLSConfig != nil {
		add("tls.timeout", cur.TLSTimeout != o.TLSTimeout)
		add("tls.handshake_first", cur.TLSHandshakeFirst != o.TLSHandshakeFirst || cur.TLSHandshakeFirstFallback != o.TLSHandshakeFirstFallback)
	}
	return keys
}

// reloadLogLevels turns debug and trace logging on or off, logging each
// change as nats-server does.
func (s *Server) reloadLogLevels(debug, trace bool) {
	if trace != s.log.Tracing() {
		s.log.Noticef("Reloaded: trace = %v", trace)
	}
	if debug != s.log.Debugging() {
		s.log.Noticef("Reloaded: debug = %v", debug)
	}
	s.log.SetLevels(debug, trace)
}
