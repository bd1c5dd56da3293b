package server

import (
	"bytes"
	"strconv"

	"github.com/cairn-db/cairn/internal/subject"
)

// The reply rule for in-process services (issue 10, point 4).
//
// An in-process subscription (the JetStream API, direct get, stream
// ingestion, consumer acks) answers a request by publishing to its reply
// subject, so the reply is a publish made on the requester's behalf. A
// message from a client with permissions is therefore handed to
// in-process handlers only when its reply subject is empty, or one the
// client may publish to (its publish permissions; what allow_responses
// opened does not count), or one a non-queue subscription of the same
// connection receives (its inbox, e.g. nats.go's _INBOX.<id>.*) and no
// in-process subscription listens on (a stream's subjects are never an
// inbox, even for a user allowed to subscribe to them).
// Otherwise no in-process handler gets the message (nothing is stored,
// nothing answered), client subscribers still do (their answers are
// their own publishes, checked under their own permissions), and the
// publisher gets -ERR 'Permissions Violation for Publish to "<reply>"'
// once; the connection stays open.
//
// The same decision opens, or not, the reply subject for a client with
// allow_responses that receives the message (route.go deliver): its
// answer is a publish on the requester's behalf too. The JetStream API
// applies the rule to what lives on after the request (jsapi.Caller,
// Requester): a push consumer's deliver subject, a stream's subjects
// (received on the requester's behalf) and its republish destination.
//
// nats-server v2.15.2 does not check this: a user allowed only
// $JS.API.DIRECT.GET.KV_cfg.> can send
//
//	PUB $JS.API.DIRECT.GET.KV_cfg.$KV.cfg.k $KV.cfg.evil
//
// and the KV_cfg stream stores the answer as the value of key "evil".
//
// Caching. The decision is made once per routed message, when the first
// in-process subscription is reached. It is not cached per reply
// subject: request replies are unique (nats.go's _INBOX.<id>.<n>), so
// such a cache would never hit and would churn. Instead each connection
// with permissions keeps an index of its own non-queue subscription
// subjects (ownSubs, updated on SUB and UNSUB under client.mu), and the
// reply is looked up in it: the reply itself, its parent with a final
// "*" and each prefix with a final ">", a few map lookups without
// allocation; only subscriptions with a wildcard before their last
// token (rare) are matched one by one. The publish part uses the
// connection's publish cache (perms.go).

// replyCheck is the reply rule's decision for one routed message.
type replyCheck uint8

const (
	replyUnchecked replyCheck = iota // no in-process subscription reached yet
	replyAllowed
	replyRefused
)

// allows reports whether the message may be handed to an in-process
// subscription, deciding on the first call for the message (and
// answering the violation then). from is the publishing client, nil for
// in-process publishes; subj is the subject published to. It is called
// on from's reader goroutine.
func (rc *replyCheck) allows(from *client, subj, reply []byte) bool {
	if *rc == replyUnchecked {
		*rc = replyAllowed
		if from != nil && len(reply) > 0 && !from.mayBeAnsweredOn(reply) {
			*rc = replyRefused
			from.permViolation("Permissions Violation for Publish to "+strconv.Quote(string(reply)),
				"Publish Violation - Reply "+strconv.Quote(string(reply))+" of "+strconv.Quote(string(subj))+" to an in-process service")
		}
	}
	return *rc == replyAllowed
}

// mayBeAnsweredOn reports whether an in-process service may publish to
// reply on behalf of c: always, without permissions. Reader goroutine
// only.
func (c *client) mayBeAnsweredOn(reply []byte) bool {
	p := c.perm.p.Load()
	if p == nil {
		return true
	}
	c.mu.Lock()
	ok := c.receivesLocked(reply)
	c.mu.Unlock()
	// A subject the client receives on is its inbox only where no
	// in-process service listens too: a subscribe permission as wide as
	// a stream's subjects ($KV.cfg.>) must not let a reader have a
	// service answer into the stream. (Checked only for replies the
	// client receives on, so an ordinary inbox request costs one index
	// match; the publish cache is kept for other replies, as inboxes
	// are unique and would churn it.)
	if ok && !c.account().inProcessInterest(reply) {
		return true
	}
	return c.permitsPublish(p, reply)
}

// inProcessInterest reports whether an in-process subscription of the
// account matches subj.
func (a *Account) inProcessInterest(subj []byte) bool {
	if hasEmptyToken(subj) {
		return false
	}
	r := a.subs.MatchBytes(subj)
	for _, sub := range r.Plain {
		if sub.handler != nil {
			return true
		}
	}
	for _, group := range r.Groups {
		for _, sub := range group {
			if sub.handler != nil {
				return true
			}
		}
	}
	return false
}

// receivesLocked reports whether a non-queue subscription of c matches
// reply and c's subscribe deny entries let a message on reply through.
// It is called with c.mu held.
func (c *client) receivesLocked(reply []byte) bool {
	if !c.perm.own.matches(reply, c.mu.subs) {
		return false
	}
	return !c.perm.filter || c.perm.p.Load().Delivers(string(reply), "")
}

// ownSubs indexes a connection's non-queue subscriptions for the reply
// rule. Guarded by client.mu; kept only for clients with permissions.
type ownSubs struct {
	// bySubject counts the subscriptions per subject whose only
	// wildcard, if any, is their last token (_INBOX.abc.*, foo.>,
	// foo.bar).
	bySubject map[string]int
	// others counts the subscriptions with a wildcard before their last
	// token (*.foo, a.*.*); they are matched one by one.
	others int
}

// ownSubAdded records a new subscription of c in the reply rule's
// index. It is called with c.mu held.
func (c *client) ownSubAdded(sub *subscription) {
	if c.perm.p.Load() == nil || sub.queue != "" {
		return
	}
	o := &c.perm.own
	if !finalWildcardOnly(sub.subject) {
		o.others++
		return
	}
	if o.bySubject == nil {
		o.bySubject = make(map[string]int)
	}
	o.bySubject[sub.subject]++
}

// ownSubRemoved forgets a subscription ownSubAdded recorded. It is
// called with c.mu held.
func (c *client) ownSubRemoved(sub *subscription) {
	if c.perm.p.Load() == nil || sub.queue != "" {
		return
	}
	o := &c.perm.own
	if !finalWildcardOnly(sub.subject) {
		o.others--
		return
	}
	if n := o.bySubject[sub.subject]; n > 1 {
		o.bySubject[sub.subject] = n - 1
	} else {
		delete(o.bySubject, sub.subject)
	}
}

// finalWildcardOnly reports whether subj has no wildcard token except,
// possibly, its last.
func finalWildcardOnly(subj string) bool {
	i := len(subj) - 1
	for i >= 0 && subj[i] != '.' {
		i--
	}
	return i < 0 || !subject.HasWildcard(subj[:i])
}

// matches reports whether one of the indexed subscriptions matches the
// literal subject reply; subs are all of the connection's subscriptions,
// scanned only when some have a wildcard before their last token.
func (o *ownSubs) matches(reply []byte, subs map[string]*subscription) bool {
	if len(o.bySubject) > 0 && o.matchesIndexed(reply) {
		return true
	}
	if o.others == 0 {
		return false
	}
	r := string(reply)
	for _, sub := range subs {
		if sub.queue == "" && !finalWildcardOnly(sub.subject) && subject.Match(sub.subject, r) {
			return true
		}
	}
	return false
}

// matchesIndexed looks reply up in bySubject: as a literal, as its
// parent with a final "*" (nats.go's request inbox, checked first), and
// as each prefix with a final ">".
func (o *ownSubs) matchesIndexed(reply []byte) bool {
	var buf [128]byte
	last := bytes.LastIndexByte(reply, '.')
	key := append(append(buf[:0], reply[:last+1]...), '*')
	if o.bySubject[string(key)] > 0 || o.bySubject[string(reply)] > 0 || o.bySubject[">"] > 0 {
		return true
	}
	for i, b := range reply {
		if b == '.' {
			key = append(append(buf[:0], reply[:i+1]...), '>')
			if o.bySubject[string(key)] > 0 {
				return true
			}
		}
	}
	return false
}
