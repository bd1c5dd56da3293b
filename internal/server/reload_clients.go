package server

import (
	"crypto/x509"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cairn-db/cairn/internal/auth"
)

// Checking open connections again after a reload (reload.go).
//
// Each client recorded who it is when it authenticated (authState, under
// client.mu, while holding Server.authMu for reading). The reload swaps
// the authenticator holding authMu, then reads every client's record:
// one made before the swap names the old authenticator and is checked
// here; one made after names the new one and is left alone. A client
// that has not authenticated yet will do so against the new one.
//
// The credentials are those the client connected with; an nkey's
// signature is checked over the nonce the client was sent, which it
// keeps. Clients are grouped by credentials, so each distinct user and
// password costs one bcrypt comparison per reload, and the groups are
// checked on a few goroutines. The verdict is applied under client.mu
// only if the record is still the one read: the reader goroutine may
// have authenticated again meanwhile, against the new authenticator.

// reloadCheck is one distinct set of credentials to check and the
// clients that connected with it.
type reloadCheck struct {
	creds   auth.Credentials
	nonce   []byte
	cert    *x509.Certificate // under verify_and_map, the client's certificate
	clients []*client
	states  []*authState

	id  auth.Identity
	err error
}

// recheckClients checks every open connection against authn, the
// authenticator just put in force.
func (s *Server) recheckClients(authn *auth.Authenticator) {
	s.mu.Lock()
	clients := make([]*client, 0, len(s.mu.clients))
	for _, c := range s.mu.clients {
		clients = append(clients, c)
	}
	s.mu.Unlock()

	type key struct {
		creds auth.Credentials
		nonce string
		cert  string
	}
	byKey := make(map[key]*reloadCheck)
	var checks []*reloadCheck
	for _, c := range clients {
		c.mu.Lock()
		st := c.mu.auth
		skip := c.mu.closed || st == nil || st.authn == authn
		c.mu.Unlock()
		if skip {
			continue
		}
		if !recheckable(st.id.Method) {
			c.log.Debugf("%s - %s kept by the reload: %s identities are not checked again", c, describeIdentity(st.id), st.id.Method)
			continue
		}
		k := key{creds: st.creds}
		if st.creds.Nkey != "" {
			k.nonce = string(c.nonce) // the signature is over it
		}
		var cert *x509.Certificate
		if authn.TLSMap() {
			// Checked as a new connection would be: its certificate
			// mapped to a user of the new list.
			cert = c.peerCert
			if cert != nil {
				k.cert = string(cert.Raw)
			}
		}
		rc := byKey[k]
		if rc == nil {
			rc = &reloadCheck{creds: st.creds, nonce: c.nonce, cert: cert}
			byKey[k] = rc
			checks = append(checks, rc)
		}
		rc.clients = append(rc.clients, c)
		rc.states = append(rc.states, st)
	}
	authenticateAll(authn, checks)
	for _, rc := range checks {
		for i, c := range rc.clients {
			c.applyReload(authn, rc.states[i], rc.id, rc.err)
		}
	}
}

// recheckable reports whether a reload knows how to check an identity
// proved by m again; others are kept as they are.
func recheckable(m auth.Method) bool {
	switch m {
	case auth.MethodNone, auth.MethodToken, auth.MethodPassword, auth.MethodNkey, auth.MethodNoAuthUser, auth.MethodCert:
		return true
	}
	return false
}

// authenticateAll runs each check against authn on up to GOMAXPROCS
// goroutines.
func authenticateAll(authn *auth.Authenticator, checks []*reloadCheck) {
	work := make(chan *reloadCheck)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(checks)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rc := range work {
				if authn.TLSMap() {
					rc.id, rc.err = authn.AuthenticateCert(rc.cert, rc.creds, rc.nonce)
				} else {
					rc.id, rc.err = authn.Authenticate(rc.creds, rc.nonce)
				}
			}
		}()
	}
	for _, rc := range checks {
		work <- rc
	}
	close(work)
	wg.Wait()
}

// applyReload applies the verdict of the new authenticator on c, whose
// record st was checked: id, or the refusal err.
func (c *client) applyReload(authn *auth.Authenticator, st *authState, id auth.Identity, err error) {
	acc := c.account().Name()
	if name := claimedUser(st); name != "" && authn.Required() {
		// As nats-server: a user removed, or moved to another account,
		// is closed without an error; it reconnects and is refused, or
		// lands in its new account.
		if userAcc, ok := authn.User(name); !ok || accountName(userAcc) != acc {
			c.log.Noticef("%s - %s was removed or moved to another account by the reload: closing", c, describeIdentity(st.id))
			c.closeConnection("Client Closed")
			return
		}
	}
	if err != nil {
		c.protocolError(authViolation(strings.TrimPrefix(err.Error(), "auth: ")))
		return
	}
	if accountName(id.Account) != acc {
		c.log.Noticef("%s - %s is in account %q after the reload: closing", c, describeIdentity(id), accountName(id.Account))
		c.closeConnection("Client Closed")
		return
	}
	c.mu.Lock()
	if c.mu.closed || c.mu.auth != st {
		// Closed, or authenticated again against the new authenticator.
		c.mu.Unlock()
		return
	}
	c.mu.auth = &authState{authn: authn, id: id, creds: st.creds}
	removed := c.setPermsLocked(id.Permissions)
	c.mu.Unlock()
	for _, sub := range removed {
		c.account().removeSub(sub.subject, sub.queue, sub)
		// nats-server's texts (client.go processSubsOnConfigReload).
		if sub.queue != "" {
			c.sendErr("Permissions Violation for Subscription to " + strconv.Quote(sub.subject) + " using queue " + strconv.Quote(sub.queue) + " (sid " + strconv.Quote(sub.sid) + ")")
			c.log.Noticef("Removed sub %q using queue %q (sid %q) for %s - not authorized", sub.subject, sub.queue, sub.sid, describeIdentity(id))
		} else {
			c.sendErr("Permissions Violation for Subscription to " + strconv.Quote(sub.subject) + " (sid " + strconv.Quote(sub.sid) + ")")
			c.log.Noticef("Removed sub %q (sid %q) for %s - not authorized", sub.subject, sub.sid, describeIdentity(id))
		}
	}
}

// setPermsLocked makes p the client's permissions: the caches are
// emptied, the delivery filter and the reply rule's index rebuilt, and
// the subscriptions p does not allow taken out of c.mu.subs and
// returned (sorted by sid) for the caller to remove from the account.
// It is called with c.mu held; the reader goroutine drops its publish
// cache when it sees p (permitsPublish).
func (c *client) setPermsLocked(p *auth.Permissions) []*subscription {
	c.perm.p.Store(p)
	c.perm.deliver = nil
	c.perm.filter, c.perm.queueDeny = false, false
	c.perm.own = ownSubs{}
	if p.Responses() == nil {
		c.perm.replies = nil
	}
	var removed []*subscription
	for sid, sub := range c.mu.subs {
		if p != nil && !p.CanSubscribe(sub.subject, sub.queue) {
			delete(c.mu.subs, sid)
			removed = append(removed, sub)
			continue
		}
		c.filterSubLocked(p, sub)
		c.ownSubAdded(sub)
	}
	slices.SortFunc(removed, func(a, b *subscription) int { return strings.Compare(a.sid, b.sid) })
	return removed
}

// claimedUser is the user or nkey a client's record names, if any: the
// user it authenticated as or, when authentication was off, the one its
// CONNECT named.
func claimedUser(st *authState) string {
	switch st.id.Method {
	case auth.MethodPassword, auth.MethodNkey, auth.MethodCert:
		return st.id.Name
	case auth.MethodNone:
		if st.creds.Nkey != "" {
			return st.creds.Nkey
		}
		return st.creds.User
	}
	return ""
}

// accountName is the name of the account an identity's account field
// names ("" is the global account).
func accountName(account string) string {
	if account == "" {
		return GlobalAccount
	}
	return account
}

// describeIdentity names an identity for logs, as nats-server does.
func describeIdentity(id auth.Identity) string {
	switch id.Method {
	case auth.MethodNkey:
		return "Nkey " + strconv.Quote(id.Name)
	case auth.MethodToken:
		return "the token user"
	case auth.MethodNone:
		return "an anonymous client"
	}
	return "User " + strconv.Quote(id.Name)
}
