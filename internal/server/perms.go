package server

import (
	"bytes"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/cairn-db/cairn/internal/auth"
)

// Publish and subscribe permissions (internal/auth), enforced as
// nats-server v2.15.2 enforces them (server/client.go):
//   - a PUB/HPUB to a subject the user may not publish to is dropped and
//     answered -ERR 'Permissions Violation for Publish to "<subj>"'; the
//     connection stays open;
//   - a SUB the user may not make is answered -ERR 'Permissions
//     Violation for Subscription to "<subj>"' (+ ' using queue "<q>"')
//     and not made; the connection stays open;
//   - a wildcard or queue subscription that overlaps a subscribe deny
//     entry is made, and from then on every message delivered to the
//     connection is checked against the deny entries;
//   - with allow_responses, the reply subject of each message delivered
//     to the client may be published to, MaxMsgs times within Expires
//     (even when a publish deny entry matches it, as in nats-server),
//     Cairn only: when the requester may be answered there, by the
//     reply rule (reply_rule.go; route.go deliver);
//   - for every client, with or without permissions, a reply subject
//     reserved for the server's own routing (_R_., $JS.ACK., _GR_.,
//     $GR.) is refused with -ERR 'Permissions Violation for Publish
//     with Reply of "<reply>"', and so is a publish to _GR_. or $GR..;
//   - Cairn only: a reply subject an in-process service would answer on
//     must be one the client may publish to or receives on
//     (reply_rule.go).
//
// Results are cached per connection (a map of at most permCacheSize
// subjects, emptied when full, as nats-server bounds its cache at 128),
// so the cost of a message is a map lookup and no allocation.

// permCacheSize bounds each of a connection's permission caches.
const permCacheSize = 128

// permState is a connection's permissions and the caches of their
// results.
type permState struct {
	// p is set when the client authenticates, before any SUB or PUB is
	// processed; nil allows everything. A configuration reload replaces
	// it (reload.go) under client.mu, so a reader holding client.mu
	// sees it stable; the reader goroutine loads it without the lock,
	// once per PUB or SUB.
	p atomic.Pointer[auth.Permissions]
	// pub caches CanPublish by subject for the permissions pubFor;
	// reader goroutine only.
	pub    map[string]bool
	pubFor *auth.Permissions
	// Guarded by client.mu: filter is set once a subscription overlaps
	// a deny entry, and then deliveries are checked; deliver caches
	// Delivers by subject for subscriptions without a queue group (or
	// with one when no deny entry names a group).
	filter    bool
	queueDeny bool
	deliver   map[string]bool
	// replies are the reply subjects of messages delivered to the
	// client that allow_responses lets it publish to (guarded by
	// client.mu), pruned as nats-server prunes them.
	replies    map[string]*replyPerm
	sincePrune int
	lastPrune  time.Time
	// own indexes the client's non-queue subscriptions for the reply
	// rule (reply_rule.go); guarded by client.mu.
	own ownSubs
}

// replyPerm is one reply subject allow_responses opened: when and how
// many times it was used.
type replyPerm struct {
	at time.Time
	n  int
}

// Reply permissions are pruned after this many new ones or this long
// (nats-server's replyPermLimit and replyPruneTime).
const (
	replyPruneCount = 4096
	replyPruneTime  = time.Second
)

// Reserved prefixes (nats-server's replyPrefix, jsAckPre, gwReplyPrefix
// and oldGWReplyPrefix).
var (
	prefixServiceReply = []byte("_R_.")
	prefixJSAck        = []byte("$JS.ACK.")
	prefixGWReply      = []byte("_GR_.")
	prefixOldGWReply   = []byte("$GR.")
)

// hasPrefixLonger reports whether b starts with prefix and goes on.
func hasPrefixLonger(b, prefix []byte) bool {
	return len(b) > len(prefix) && bytes.HasPrefix(b, prefix)
}

func isGWReply(b []byte) bool {
	return hasPrefixLonger(b, prefixGWReply) || hasPrefixLonger(b, prefixOldGWReply)
}

func isReservedReply(b []byte) bool {
	return hasPrefixLonger(b, prefixServiceReply) || hasPrefixLonger(b, prefixJSAck) || isGWReply(b)
}

// checkPub reports whether the client may publish to subj with reply,
// answering the violation when not. Reader goroutine only.
func (c *client) checkPub(subj, reply []byte) bool {
	if isGWReply(subj) || !c.canPublish(subj) {
		c.permViolation("Permissions Violation for Publish to "+strconv.Quote(string(subj)),
			"Publish Violation - Subject "+strconv.Quote(string(subj)))
		return false
	}
	if len(reply) > 0 && isReservedReply(reply) {
		c.permViolation("Permissions Violation for Publish with Reply of "+strconv.Quote(string(reply)),
			"Publish Violation - Reply "+strconv.Quote(string(reply)))
		return false
	}
	return true
}

// canPublish reports whether the permissions let the client publish to
// subj, from the cache when it can.
func (c *client) canPublish(subj []byte) bool {
	p := c.perm.p.Load()
	if p == nil || c.permitsPublish(p, subj) {
		return true
	}
	if p.Responses() == nil {
		return false
	}
	// A reply subject allow_responses opened; not cached, as
	// nats-server does not cache it.
	c.mu.Lock()
	ok := c.responseAllowed(string(subj))
	c.mu.Unlock()
	return ok
}

// permitsPublish reports whether the publish permissions themselves
// (not allow_responses) let the client publish to subj, from the cache
// when they can. The cache holds no refusal when allow_responses is
// set, so that canPublish still asks it. Reader goroutine only; p is
// the client's permissions, not nil.
func (c *client) permitsPublish(p *auth.Permissions, subj []byte) bool {
	if c.perm.pubFor != p {
		// Reloaded (reload.go): the cache answered for the old ones.
		c.perm.pub, c.perm.pubFor = nil, p
	}
	if ok, hit := c.perm.pub[string(subj)]; hit {
		return ok
	}
	s := string(subj)
	ok := p.CanPublish(s)
	if !ok && p.Responses() != nil {
		return false
	}
	if c.perm.pub == nil || len(c.perm.pub) >= permCacheSize {
		c.perm.pub = make(map[string]bool)
	}
	c.perm.pub[s] = ok
	return ok
}

// checkSub reports whether the permissions p let the client subscribe
// to subj in queue, answering the violation when not. Reader goroutine
// only; the caller records the subscription only if p are still the
// client's permissions then (a reload may have replaced them).
func (c *client) checkSub(subj, queue, sid string) (p *auth.Permissions, ok bool) {
	p = c.perm.p.Load()
	if p == nil || p.CanSubscribe(subj, queue) {
		return p, true
	}
	text := "Permissions Violation for Subscription to " + strconv.Quote(subj)
	logText := "Subscription Violation - Subject " + strconv.Quote(subj)
	if queue != "" {
		text += " using queue " + strconv.Quote(queue)
		logText += ", Queue: " + strconv.Quote(queue)
	}
	c.permViolation(text, logText+", SID "+sid)
	return p, false
}

// filterSubLocked turns the delivery filter on when sub, a new
// subscription the permissions p allow, overlaps a deny entry. It is
// called with c.mu held.
func (c *client) filterSubLocked(p *auth.Permissions, sub *subscription) {
	if p != nil && !c.perm.filter && p.Overlaps(sub.subject, sub.queue) {
		c.perm.filter, c.perm.queueDeny = true, p.QueueDeny()
	}
}

// delivers reports whether a message on subj may be delivered to sub,
// a subscription of c. It is called with c.mu held.
func (c *client) delivers(sub *subscription, subj []byte) bool {
	if !c.perm.filter {
		return true
	}
	p := c.perm.p.Load()
	if sub.queue != "" && c.perm.queueDeny {
		return p.Delivers(string(subj), sub.queue)
	}
	if ok, hit := c.perm.deliver[string(subj)]; hit {
		return ok
	}
	s := string(subj)
	ok := p.Delivers(s, "")
	if c.perm.deliver == nil || len(c.perm.deliver) >= permCacheSize {
		c.perm.deliver = make(map[string]bool)
	}
	c.perm.deliver[s] = ok
	return ok
}

// responseAllowed reports whether allow_responses lets the client
// publish to subj once more, counting the use. It is called with c.mu
// held.
func (c *client) responseAllowed(subj string) bool {
	r := c.perm.replies[subj]
	resp := c.perm.p.Load().Responses()
	if r == nil || resp == nil {
		return false
	}
	r.n++
	if r.n > resp.MaxMsgs || time.Since(r.at) > resp.Expires {
		delete(c.perm.replies, subj)
		return false
	}
	return true
}

// trackReply records the reply subject of a message delivered to c when
// allow_responses is set and its publish permissions do not already
// allow it (as nats-server does, a reply still open counts as a use). It
// is called with c.mu held.
func (c *client) trackReply(reply []byte) {
	p := c.perm.p.Load()
	if len(reply) == 0 || p.Responses() == nil || p.CanPublish(string(reply)) || c.responseAllowed(string(reply)) {
		return
	}
	if c.perm.replies == nil {
		c.perm.replies = make(map[string]*replyPerm)
	}
	now := time.Now()
	c.perm.replies[string(reply)] = &replyPerm{at: now}
	c.perm.sincePrune++
	if c.perm.sincePrune > replyPruneCount || now.Sub(c.perm.lastPrune) > replyPruneTime {
		resp := p.Responses()
		for k, r := range c.perm.replies {
			if r.n >= resp.MaxMsgs || now.Sub(r.at) > resp.Expires {
				delete(c.perm.replies, k)
			}
		}
		c.perm.sincePrune, c.perm.lastPrune = 0, now
	}
}

// permViolation answers a refused PUB or SUB; the connection stays
// open. The error is logged as nats-server logs it.
func (c *client) permViolation(text, logText string) {
	c.sendErr(text)
	c.log.Errorf("%s - %s", c, logText)
}
