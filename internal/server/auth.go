package server

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/cairn-db/cairn/internal/auth"
)

// Authentication of client connections. The server asks internal/auth
// who a connection is, once, when its CONNECT arrives; everything here
// runs before or at that CONNECT, never per message.
//
// As nats-server does (server/parser.go, client.go, auth.go, v2.15.2):
//   - when auth is configured, INFO carries auth_required, and a nonce
//     when nkey users exist;
//   - the first byte a client sends must start CONNECT: anything else is
//     answered -ERR 'Authorization Violation' and the connection closed
//     (unless no_auth_user is set: then the client is that user, or
//     under verify_and_map the user its certificate maps to);
//   - a CONNECT whose credentials are refused gets the same answer;
//   - a client that has not sent CONNECT within the auth timeout gets
//     -ERR 'Authentication Timeout' and is closed.
//
// Cairn is stricter in one place: nats-server re-authenticates every
// CONNECT, so a connection can become another user by sending a second
// CONNECT with that user's credentials. Cairn keeps the first identity:
// a later CONNECT must carry the same credentials (or none, as the
// fields it leaves out keep their values), otherwise it is an
// authorization violation. It also never runs bcrypt twice for one
// connection.

// Client-visible texts, nats-server's.
const (
	errAuthViolation = "Authorization Violation"
	errAuthTimeout   = "Authentication Timeout"
)

// nonceLen is the number of random bytes in a nonce: 11, whose base64
// RawURL encoding is the 15 characters nats-server sends.
const nonceLen = 11

// newNonce returns a fresh nonce, as sent in INFO.
func newNonce() []byte {
	var b [nonceLen]byte
	_, _ = rand.Read(b[:])
	n := make([]byte, base64.RawURLEncoding.EncodedLen(nonceLen))
	base64.RawURLEncoding.Encode(n, b[:])
	return n
}

// authViolation is the fatal error for a refused client; reason is
// what is logged with its address (never a password or token).
func authViolation(reason string) error {
	return &fatalError{text: errAuthViolation, reason: reason}
}

// startAuth arms the auth timer when authentication is required. It
// runs before the client's goroutines start.
func (c *client) startAuth() {
	c.srv.authMu.RLock() // reload.go
	defer c.srv.authMu.RUnlock()
	a := c.srv.authn()
	if !a.Required() {
		c.recordAuth(auth.Identity{}, auth.Credentials{})
		return
	}
	c.awaitConnect = true
	c.mu.Lock()
	c.authTimer = time.AfterFunc(a.Timeout(), c.authTimeout)
	c.mu.Unlock()
}

// authTimeout runs on the auth timer: a client that has not
// authenticated by now is closed.
func (c *client) authTimeout() {
	c.mu.Lock()
	done := c.mu.authed || c.mu.closed
	c.mu.Unlock()
	if done {
		return
	}
	c.log.Debugf("%s - %s", c, errAuthTimeout)
	c.sendErr(errAuthTimeout)
	c.closeConnection(errAuthTimeout)
}

// firstByte checks the first byte a client sends while authentication
// is pending: only CONNECT may come first. It runs once, on the reader
// goroutine.
func (c *client) firstByte(b byte) error {
	c.awaitConnect = false
	if b == 'C' || b == 'c' {
		return nil
	}
	c.srv.authMu.RLock() // reload.go
	defer c.srv.authMu.RUnlock()
	a := c.srv.authn()
	if !a.Required() {
		// A reload turned authentication off since the client came.
		c.recordAuth(auth.Identity{}, auth.Credentials{})
		return nil
	}
	id, ok := a.NoAuthIdentity()
	if !ok {
		return authViolation("authentication error")
	}
	if a.TLSMap() {
		// As a CONNECT without credentials (nats-server runs the same
		// pipeline): under verify_and_map the certificate is the user,
		// not no_auth_user, and one that maps to no user is refused.
		var err error
		if id, err = c.authenticateWith(auth.Credentials{}); err != nil {
			return authViolation(strings.TrimPrefix(err.Error(), "auth: "))
		}
	}
	c.authenticated(id, auth.Credentials{})
	return nil
}

// authenticate checks the credentials of a CONNECT, on the reader
// goroutine; the error is fatal.
func (c *client) authenticate(opts *connectOpts) error {
	creds := auth.Credentials{User: opts.User, Password: opts.Pass, Token: opts.Token, Nkey: opts.Nkey, Sig: opts.Sig}
	if c.authDone {
		if creds == c.creds {
			return nil
		}
		return authViolation("authentication error - a second CONNECT cannot change the credentials of " + c.identityString())
	}
	id, err := c.authenticateWith(creds)
	if err != nil {
		return authViolation(strings.TrimPrefix(err.Error(), "auth: "))
	}
	c.authenticated(id, creds)
	return nil
}

// authenticateWith checks creds, or, under verify_and_map, maps the
// client's certificate to a user (internal/auth certmap.go).
func (c *client) authenticateWith(creds auth.Credentials) (auth.Identity, error) {
	a := c.srv.authn()
	if !a.TLSMap() {
		return a.Authenticate(creds, c.nonce)
	}
	id, err := a.AuthenticateCert(c.peerCert, creds, c.nonce)
	if err == nil && creds.User != "" && id.Method == auth.MethodCert {
		c.log.Warnf("%s - User %q found in connect proto, but user required from cert", c, creds.User)
	}
	return id, err
}

// authenticated records who the client is and stops the auth timer.
// The caller holds c.srv.authMu for reading (reload.go).
func (c *client) authenticated(id auth.Identity, creds auth.Credentials) {
	c.identity, c.creds, c.authDone = id, creds, true
	c.acc.Store(c.srv.Account(id.Account))
	c.mu.Lock()
	c.perm.p.Store(id.Permissions)
	c.recordAuthLocked(id, creds)
	c.mu.authed = true
	if c.authTimer != nil {
		c.authTimer.Stop()
	}
	c.mu.Unlock()
}

// identityString names the client's identity for logs.
func (c *client) identityString() string {
	switch c.identity.Method {
	case auth.MethodNkey:
		return "Nkey \"" + c.identity.Name + "\""
	case auth.MethodToken:
		return "the token user"
	case auth.MethodCert:
		return "User \"" + c.identity.Name + "\" (certificate)"
	}
	return "User \"" + c.identity.Name + "\""
}

// redactConnect returns a CONNECT argument for the trace log with the
// password, token and signature replaced, as nats-server does.
func redactConnect(args []byte) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(args, &m) != nil {
		return []byte("[malformed]")
	}
	// encoding/json matches keys case-insensitively (with Unicode
	// folding: "PASS" and "pa\u017f\u017f" are pass too), so a key is
	// redacted whatever its case.
	for k := range m {
		for _, secret := range []string{"pass", "auth_token", "sig"} {
			if strings.EqualFold(k, secret) {
				m[k] = json.RawMessage(`"[REDACTED]"`)
			}
		}
	}
	b, _ := json.Marshal(m)
	return b
}
