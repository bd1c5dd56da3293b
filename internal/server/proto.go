package server

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/cairn-db/cairn/internal/auth"
	"github.com/cairn-db/cairn/internal/subject"
	"github.com/cairn-db/cairn/internal/wire"
)

// connectOpts are the CONNECT fields Cairn reads. User, Pass, Token,
// Nkey and Sig are the credentials (auth.go).
type connectOpts struct {
	Verbose      bool   `json:"verbose"`
	Pedantic     bool   `json:"pedantic"`
	Echo         bool   `json:"echo"`
	Headers      bool   `json:"headers"`
	NoResponders bool   `json:"no_responders"`
	Name         string `json:"name"`
	Lang         string `json:"lang"`
	Version      string `json:"version"`
	Protocol     int    `json:"protocol"`
	User         string `json:"user,omitempty"`
	Pass         string `json:"pass,omitempty"`
	Token        string `json:"auth_token,omitempty"`
	Nkey         string `json:"nkey,omitempty"`
	Sig          string `json:"sig,omitempty"`
	TLSRequired  bool   `json:"tls_required"`
}

// defaultConnectOpts are in force until CONNECT, and fill the fields a
// CONNECT leaves out: nats-server starts verbose and pedantic.
func defaultConnectOpts() connectOpts {
	return connectOpts{Verbose: true, Pedantic: true, Echo: true}
}

// parseConnect reads the JSON argument of CONNECT over prev, the options
// in force: a repeated CONNECT updates them, like nats-server's. The error
// is a *fatalError.
func parseConnect(prev connectOpts, args []byte) (connectOpts, error) {
	opts := prev
	if err := json.Unmarshal(args, &opts); err != nil {
		return prev, &fatalError{reason: "Protocol Violation: malformed CONNECT: " + err.Error()}
	}
	if opts.Protocol < 0 || opts.Protocol > 1 {
		return prev, &fatalError{text: "invalid client protocol", reason: "Protocol Violation: invalid client protocol"}
	}
	return opts, nil
}

// fatalError closes the connection, after sending text when not empty.
type fatalError struct{ text, reason string }

func (e *fatalError) Error() string { return e.reason }

var errClosed = errors.New("server: client closed")

// The wire.Handler methods below run on the client's reader goroutine.

func (c *client) Connect(args []byte) error {
	if c.log.Tracing() {
		c.log.Tracef("%s - <<- [CONNECT %s]", c, redactConnect(args))
	}
	opts, err := parseConnect(c.opts, args)
	if err != nil {
		return err
	}
	if err := c.connectAuth(&opts); err != nil {
		return err
	}
	c.mu.Lock()
	c.opts = opts
	c.mu.Unlock()
	c.parser.AllowHeaders(opts.Headers)
	c.ok()
	return nil
}

func (c *client) Ping() error {
	c.log.Tracef("%s - <<- [PING]", c)
	c.log.Tracef("%s - ->> [PONG]", c)
	c.queue(wire.Pong)
	c.mu.Lock()
	c.mu.pongSent = true
	c.mu.Unlock()
	return nil
}

func (c *client) Pong() error {
	c.log.Tracef("%s - <<- [PONG]", c)
	c.mu.Lock()
	c.mu.pingsOut = 0
	if !c.mu.rttStart.IsZero() {
		c.rtt.Store(max(int64(time.Since(c.mu.rttStart)), 1))
		c.mu.rttStart = time.Time{}
	}
	c.mu.Unlock()
	return nil
}

func (c *client) Sub(subj, queue, sid []byte) error {
	if c.log.Tracing() {
		c.log.Tracef("%s - <<- [SUB %s %s %s]", c, subj, queue, sid)
	}
	s := string(subj)
	if !subject.Valid(s) || (len(queue) > 0 && !subject.ValidLiteral(string(queue))) {
		c.sendErr("Invalid Subject")
		return nil
	}
	sub := &subscription{client: c, subject: s, queue: string(queue), sid: string(sid)}
	// Permissions come before the limit, as in nats-server. Recorded
	// under the permissions checked: a reload replacing them meanwhile
	// (reload.go) did not see this subscription, so it is checked again.
	var p *auth.Permissions
	for {
		var ok bool
		if p, ok = c.checkSub(s, sub.queue, sub.sid); !ok {
			return nil
		}
		c.mu.Lock()
		if c.perm.p.Load() == p {
			break
		}
		c.mu.Unlock()
	}
	if c.mu.closed {
		c.mu.Unlock()
		return errClosed
	}
	// The limit is checked before the sid, as by nats-server: a repeated
	// SUB at the limit is refused too.
	if limit := c.srv.opts.MaxSubscriptions; limit > 0 && len(c.mu.subs) >= limit {
		c.mu.Unlock()
		c.maxSubsExceeded()
		return nil
	}
	if _, dup := c.mu.subs[sub.sid]; dup {
		// A repeated sid is ignored, as by nats-server.
		c.mu.Unlock()
		c.ok()
		return nil
	}
	c.mu.subs[sub.sid] = sub
	c.filterSubLocked(p, sub) // perms.go
	c.ownSubAdded(sub)        // reply_rule.go
	c.mu.Unlock()
	if h := c.srv.hooks.subRecorded; h != nil {
		h(c)
	}
	if err := c.account().insertSub(s, sub.queue, sub); err != nil {
		c.mu.Lock()
		if c.mu.subs != nil && c.mu.subs[sub.sid] == sub {
			delete(c.mu.subs, sub.sid)
			c.ownSubRemoved(sub)
		}
		c.mu.Unlock()
		c.sendErr("Invalid Subject")
		return nil
	}
	// A close between recording the sid and inserting took the client's
	// subscriptions before this one was in the index, so it could not
	// remove it: take it out again. (A close after this check finds it
	// in the index.) So does a reload that removed it (reload.go),
	// which answered the violation.
	c.mu.Lock()
	closed := c.mu.closed
	removed := !closed && c.mu.subs[sub.sid] != sub
	c.mu.Unlock()
	if closed || removed {
		c.account().removeSub(s, sub.queue, sub)
	}
	if closed {
		return errClosed
	}
	if removed {
		return nil
	}
	c.ok()
	return nil
}

// maxSubsExceeded refuses a SUB beyond max_subscriptions; the connection
// stays open, as with nats-server. The first refusal is logged.
func (c *client) maxSubsExceeded() {
	if c.maxSubsLogged.CompareAndSwap(false, true) {
		c.log.Errorf("%s - maximum subscriptions exceeded", c)
	}
	c.sendErr("maximum subscriptions exceeded")
}

func (c *client) Unsub(sid []byte, max int64) error {
	if c.log.Tracing() {
		c.log.Tracef("%s - <<- [UNSUB %s %d]", c, sid, max)
	}
	c.mu.Lock()
	sub := c.mu.subs[string(sid)]
	c.mu.Unlock()
	if sub != nil {
		if h := c.srv.hooks.unsubFound; h != nil && max > 0 {
			h(c)
		}
		// Compared and set under c.mu, which deliver holds while it
		// counts: either the max is in place before the delivery that
		// reaches it (which then removes the subscription), or enough
		// were delivered already and it goes now.
		c.mu.Lock()
		remove := max <= 0 || sub.delivered >= max
		if !remove {
			sub.max = max
		}
		c.mu.Unlock()
		if remove {
			c.removeSub(sub)
		}
	}
	c.ok()
	return nil
}

func (c *client) Pub(subj, reply, header, payload []byte) error {
	c.countIn(len(header) + len(payload))
	if c.log.Tracing() {
		c.tracePub(subj, reply, header, payload)
	}
	// nats-server checks only the subject published to, and only in
	// pedantic mode, where it answers -ERR and still routes the message
	// (seen on v2.15.2). Without pedantic a subject with wildcard tokens
	// is routed as if they were literal: nats.go relies on it when it
	// publishes to $JS.API.CONSUMER.CREATE.<stream>.<name>.<filter> with
	// a filter such as "$KV.b.>". A subject with an empty token matches
	// nothing (see route), so a request to it gets no-responders at once.
	// The reply subject is passed on unchecked, as by nats-server.
	if c.opts.Pedantic && !subject.ValidLiteral(string(subj)) {
		c.sendErr("Invalid Publish Subject")
	}
	if !c.checkPub(subj, reply) {
		return nil // dropped; the connection stays open (perms.go)
	}
	c.ok()
	c.srv.route(c.account(), c, subj, reply, header, payload)
	return nil
}

func (c *client) tracePub(subj, reply, header, payload []byte) {
	op := "PUB"
	if header != nil {
		op = "HPUB"
	}
	c.log.Tracef("%s - <<- [%s %s %s %d]", c, op, subj, reply, len(header)+len(payload))
	if header != nil {
		c.log.Tracef("%s - <<- MSG_PAYLOAD: [%q]", c, append(append([]byte{}, header...), payload...))
	} else {
		c.log.Tracef("%s - <<- MSG_PAYLOAD: [%q]", c, payload)
	}
}

// ok answers +OK in verbose mode.
func (c *client) ok() {
	if c.opts.Verbose {
		c.queue(wire.OK)
	}
}

// removeSub drops one of the client's subscriptions.
func (c *client) removeSub(sub *subscription) {
	c.mu.Lock()
	if c.mu.subs != nil && c.mu.subs[sub.sid] == sub {
		delete(c.mu.subs, sub.sid)
		c.ownSubRemoved(sub)
	}
	c.mu.Unlock()
	c.account().removeSub(sub.subject, sub.queue, sub)
}
